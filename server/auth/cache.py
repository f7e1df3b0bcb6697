"""What a socket's authentication remembers, so a connect costs no database round trip.

A logout (or a refresh token reused, or a password change) is written to the ``sessions`` table and then
announced to every process on the broker (``EndSession``), which calls :meth:`LiveSessions.ended`. So a session
seen live in the table stays live here until such an announcement, bounded by ``ttl``: should an announcement
be lost (a broker outage), a revoked session is refused again at most ``ttl`` seconds later. Sockets already
open are closed by the announcement itself, as before.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from uuid import UUID

from .principal import Principal

LIVE_SESSION_TTL = 30.0
"""Seconds a session checked live in the table is taken as live without asking again."""

TOKEN_CACHE_SIZE = 10_000
"""Verified tokens remembered (most recently used first)."""


class LiveSessions:
    """Sessions known to be live (checked against the table at most every ``ttl`` seconds) or ended."""

    def __init__(
        self,
        check: Callable[[UUID, UUID], Awaitable[bool]],
        *,
        ttl: float = LIVE_SESSION_TTL,
        capacity: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._check = check
        self.ttl = ttl
        self.capacity = capacity
        self._clock = clock
        self._live: OrderedDict[UUID, tuple[UUID, float]] = OrderedDict()  # session -> (user, checked until)
        self._ended: dict[UUID, float] = {}  # session -> when its last token expires
        self._asking: dict[tuple[UUID, UUID], asyncio.Future[bool]] = {}  # one question per session at a time

    async def is_live(self, session_id: UUID, user_id: UUID) -> bool:
        now = self._clock()
        if self._ended and self._is_ended(session_id, now):
            return False
        known = self._live.get(session_id)
        if known is not None and known[0] == user_id and known[1] > now:
            return True
        live = await self._ask(session_id, user_id)
        if live and session_id not in self._ended:  # not ended while the table was asked
            self._live[session_id] = (user_id, now + self.ttl)
            self._live.move_to_end(session_id)
            while len(self._live) > self.capacity:
                self._live.popitem(last=False)
        return live

    async def _ask(self, session_id: UUID, user_id: UUID) -> bool:
        """Ask the table; sockets of one session connecting together (a reconnect storm) share the answer."""
        key = (session_id, user_id)
        asking = self._asking.get(key)
        if asking is not None:
            return await asyncio.shield(asking)
        asking = self._asking[key] = asyncio.get_running_loop().create_future()
        try:
            live = await self._check(session_id, user_id)
        except BaseException as exc:
            asking.set_exception(exc)
            asking.exception()  # retrieved here: the waiters (if any) raise it themselves
            raise
        else:
            asking.set_result(live)
            return live
        finally:
            del self._asking[key]

    def ended(self, session_id: UUID, expires_at: float) -> None:
        """The session was logged out: refuse it from now on (remembered until ``expires_at``)."""
        self._live.pop(session_id, None)
        now = self._clock()
        if expires_at <= now:
            return
        if len(self._ended) >= self.capacity:
            self._ended = {sid: exp for sid, exp in self._ended.items() if exp > now}
        self._ended[session_id] = max(expires_at, self._ended.get(session_id, 0.0))

    def forget(self) -> None:
        """Ask the table again for every session (e.g. after missing broker messages)."""
        self._live.clear()

    def _is_ended(self, session_id: UUID, now: float) -> bool:
        expires_at = self._ended.get(session_id)
        if expires_at is None:
            return False
        if expires_at <= now:
            del self._ended[session_id]
            return False
        return True


class VerifiedTokens:
    """Principals of tokens whose signature and claims were verified, until each token's ``exp``.

    A token is a bearer secret held in memory either way (the socket keeps its principal); the cache only spares
    decoding and checking the same token again when a client reconnects or opens another tab.
    """

    def __init__(self, capacity: int = TOKEN_CACHE_SIZE, *, clock: Callable[[], float] = time.time) -> None:
        self.capacity = capacity
        self._clock = clock
        self._principals: OrderedDict[str, tuple[Principal, object, str | None]] = OrderedDict()

    def get(self, token: str) -> tuple[Principal, object, str | None] | None:
        """The token's principal, the key that verified it and that key's ``kid``, unless the token expired since."""
        known = self._principals.get(token)
        if known is None:
            return None
        if known[0].expires_at <= self._clock():
            del self._principals[token]
            return None
        self._principals.move_to_end(token)
        return known

    def put(self, token: str, principal: Principal, key: object, kid: str | None) -> None:
        self._principals[token] = (principal, key, kid)
        self._principals.move_to_end(token)
        while len(self._principals) > self.capacity:
            self._principals.popitem(last=False)
