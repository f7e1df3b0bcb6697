"""Who is present in each room, over every process: in memory for one process, in Redis for many.

In Redis, a room's presence is a hash ``<prefix>:presence:<room_id>`` whose fields are ``<process>|<user_id>``,
and the live processes are a sorted set ``<prefix>:presence:processes`` scored by when each one's heartbeat
expires. A process refreshes its score every third of ``ttl``; one that dies stops doing so, and its users drop
out of every room's presence ``ttl`` seconds later (readers skip, then delete, fields of expired processes).
A process that finds its own score gone (Redis restarted empty) writes its presence again.

The hub calls :meth:`Presence.join` when a socket enters a room (the joiner's snapshot comes with it) and
:meth:`Presence.leave` when the user's last socket on this process leaves; each is one Redis round trip (a Lua
script), O(processes) but for the snapshot, which reads the room's presence once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, Final, NamedTuple
from uuid import UUID

from redis.asyncio import Redis

from .. import metrics
from ..logs import log_task_failure
from .base import Broker
from .redis import REDIS_DOWN, RedisBroker

logger = logging.getLogger(__name__)

DEFAULT_TTL: Final = 15.0

LocalPresence = Callable[[], Iterable[tuple[str, UUID]]]
"""Every ``(room_id, user_id)`` present on this process."""


class Joined(NamedTuple):
    first: bool
    """The user was present nowhere in the room before (announce them)."""
    present: set[UUID]
    """Everyone present in the room now, the joiner included."""


class Presence(ABC):
    @abstractmethod
    async def start(self, local: LocalPresence) -> None:
        """Begin keeping this process's presence (``local`` lists it, to write it again after a loss)."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop keeping it."""

    @abstractmethod
    async def join(self, room_id: str, user_id: UUID) -> Joined:
        """A socket of the user entered the room (idempotent: a socket may join again)."""

    @abstractmethod
    async def leave(self, room_id: str, user_id: UUID) -> bool:
        """The user's last socket on this process left the room; ``True`` if they are now present nowhere."""

    @abstractmethod
    async def present(self, room_id: str) -> set[UUID]:
        """Everyone present in the room, on every process."""


class MemoryPresence(Presence):
    def __init__(self) -> None:
        self._rooms: dict[str, set[UUID]] = {}

    async def start(self, local: LocalPresence) -> None:
        pass  # one process: its memory is all there is

    async def stop(self) -> None:
        self._rooms.clear()

    async def join(self, room_id: str, user_id: UUID) -> Joined:
        users = self._rooms.setdefault(room_id, set())
        first = user_id not in users
        users.add(user_id)
        return Joined(first, set(users))

    async def leave(self, room_id: str, user_id: UUID) -> bool:
        users = self._rooms.get(room_id, set())
        users.discard(user_id)
        if not users:
            self._rooms.pop(room_id, None)
        return True

    async def present(self, room_id: str) -> set[UUID]:
        return set(self._rooms.get(room_id, ()))


# KEYS[1]: the processes' sorted set, KEYS[2]: the room's hash; ARGV[1]: this process, ARGV[2]: ttl, ARGV[3]: user.
# touch() refreshes this process's heartbeat and says whether it had been lost (Redis restarted empty).
_PRELUDE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local lost = redis.call('ZADD', KEYS[1], string.format('%.6f', now + tonumber(ARGV[2])), ARGV[1])
local alive = redis.call('ZRANGEBYSCORE', KEYS[1], string.format('%.6f', now), '+inf')
local function elsewhere(user)
  for _, p in ipairs(alive) do
    if p ~= ARGV[1] and redis.call('HEXISTS', KEYS[2], p .. '|' .. user) == 1 then return true end
  end
  return false
end
local function present()
  local live, users = {}, {}
  for _, p in ipairs(alive) do live[p] = true end
  for _, field in ipairs(redis.call('HKEYS', KEYS[2])) do
    local bar = string.find(field, '|', 1, true)
    if bar and live[string.sub(field, 1, bar - 1)] then
      table.insert(users, string.sub(field, bar + 1))
    else
      redis.call('HDEL', KEYS[2], field)
    end
  end
  return users
end
"""
_JOIN: Final = (
    _PRELUDE
    + """
local first = elsewhere(ARGV[3]) and 0 or 1
redis.call('HSET', KEYS[2], ARGV[1] .. '|' .. ARGV[3], 1)
return {lost, first, present()}
"""
)
_LEAVE: Final = (
    _PRELUDE
    + """
redis.call('HDEL', KEYS[2], ARGV[1] .. '|' .. ARGV[3])
return {lost, elsewhere(ARGV[3]) and 0 or 1}
"""
)
_PRESENT: Final = _PRELUDE + "\nreturn {lost, present()}\n"
_HEARTBEAT: Final = (
    _PRELUDE
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.6f', now - 86400))
return {lost}
"""
)


class RedisPresence(Presence):
    """Presence shared by every process on one Redis (see the module's docstring)."""

    def __init__(self, client: Redis, *, prefix: str, ttl: float = DEFAULT_TTL) -> None:
        self._client = client
        self._prefix = prefix
        self._processes = f"{prefix}:presence:processes"
        self.process = uuid.uuid4().hex
        self.ttl = ttl
        self._local: LocalPresence = list
        self._left: set[tuple[str, UUID]] = set()
        """Leaves Redis did not take (it was down): removed again with the next write-back."""
        self._dirty = False
        """Redis lacks some of this process's presence: write it back at the next chance."""
        self._heart: asyncio.Task[None] | None = None
        self._restoring: asyncio.Task[None] | None = None
        self._join = client.register_script(_JOIN)
        self._leave = client.register_script(_LEAVE)
        self._present = client.register_script(_PRESENT)
        self._heartbeat = client.register_script(_HEARTBEAT)

    async def start(self, local: LocalPresence) -> None:
        self._local = local
        await self._run(self._heartbeat)
        self._heart = asyncio.create_task(self._beat(), name="presence-heartbeat")
        self._heart.add_done_callback(partial(log_task_failure, logger))

    async def stop(self) -> None:
        for task in (self._heart, self._restoring):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        with contextlib.suppress(*REDIS_DOWN):
            await self._client.zrem(self._processes, self.process)  # a clean stop needs no ttl to vanish

    async def join(self, room_id: str, user_id: UUID) -> Joined:
        try:
            first, users = await self._run(self._join, room_id, str(user_id))
        except REDIS_DOWN as exc:
            self._unavailable("join", exc)
            return Joined(True, self._here(room_id))
        return Joined(bool(first), {UUID(u) for u in users})

    async def leave(self, room_id: str, user_id: UUID) -> bool:
        try:
            (last,) = await self._run(self._leave, room_id, str(user_id))
        except REDIS_DOWN as exc:
            self._unavailable("leave", exc)
            self._left.add((room_id, user_id))
            self._dirty = True
            return True
        return bool(last)

    async def present(self, room_id: str) -> set[UUID]:
        try:
            (users,) = await self._run(self._present, room_id)
        except REDIS_DOWN as exc:
            self._unavailable("present", exc)
            return self._here(room_id)
        return {UUID(u) for u in users}

    def _here(self, room_id: str) -> set[UUID]:
        return {user for room, user in self._local() if room == room_id}

    def _unavailable(self, what: str, exc: BaseException) -> None:
        metrics.PRESENCE_FALLBACKS.inc()
        logger.warning("presence: Redis did not answer a %s (%r); this process's view is used", what, exc)

    async def _run(self, script: Any, room_id: str = "", user: str = "") -> list[Any]:
        """Run a script; a process that finds itself lost writes its presence back (in the background)."""
        room_key = f"{self._prefix}:presence:{room_id}"
        lost, *rest = await script(keys=[self._processes, room_key], args=[self.process, self.ttl, user])
        if self._heart is None:  # not started: its first heartbeat is expected to find it new
            return list(rest)
        self._dirty = self._dirty or bool(lost)
        if self._dirty and self._restoring is None:
            self._restoring = asyncio.create_task(self._restore(), name="presence-restore")
            self._restoring.add_done_callback(partial(log_task_failure, logger))
        return list(rest)

    async def _beat(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                await self._run(self._heartbeat)
            except REDIS_DOWN as exc:
                if not failing:
                    logger.warning("presence: heartbeat failed (%r); retrying", exc)
                failing = True
                continue
            if failing:
                logger.warning("presence: heartbeat answered again")
            failing = False

    async def _restore(self) -> None:
        """Write this process's presence again (Redis lost it), and the leaves it missed."""
        try:
            entries = list(self._local())
            left, self._left = self._left, set()
            async with self._client.pipeline(transaction=False) as pipe:
                for room_id, user_id in entries:
                    pipe.hset(f"{self._prefix}:presence:{room_id}", f"{self.process}|{user_id}", 1)
                for room_id, user_id in left - set(entries):
                    pipe.hdel(f"{self._prefix}:presence:{room_id}", f"{self.process}|{user_id}")
                await pipe.execute()
            self._dirty = False
            logger.warning("presence: wrote back %d room presences after Redis lost them", len(entries))
        except REDIS_DOWN as exc:
            logger.warning("presence: writing back failed (%r); the next heartbeat tries again", exc)
            self._left |= left
        finally:
            self._restoring = None


def create_presence(broker: Broker, *, prefix: str, ttl: float = DEFAULT_TTL) -> Presence:
    """Presence in the broker's Redis when it has one, else in memory."""
    if isinstance(broker, RedisBroker):
        return RedisPresence(broker.client, prefix=prefix, ttl=ttl)
    return MemoryPresence()
