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
from collections.abc import Awaitable, Callable
from uuid import UUID

from cachetools import TLRUCache, TTLCache

from .principal import Principal

LIVE_SESSION_TTL = 30.0
"""Seconds a session checked live in the table is taken as live without asking again."""

TOKEN_CACHE_SIZE = 10_000
"""Verified tokens remembered (most recently used first)."""


class LiveSessions:
    """Sessions known to be live (checked against the table at most every ``ttl`` seconds) or ended.

    Both are cachetools caches: least recently used first out when full, and each entry gone once it expires.
    """

    def __init__(
        self,
        check: Callable[[UUID, UUID], Awaitable[bool]],
        *,
        ttl: float = LIVE_SESSION_TTL,
        capacity: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._check = check
        self._clock = clock
        self._live: TTLCache[UUID, UUID] = TTLCache(capacity, ttl, timer=clock)  # session -> user
        # session -> when its last token expires
        self._ended: TLRUCache[UUID, float] = TLRUCache(capacity, _until_value, timer=clock)
        self._asking: dict[tuple[UUID, UUID], asyncio.Future[bool]] = {}  # one question per session at a time

    async def is_live(self, session_id: UUID, user_id: UUID) -> bool:
        """Whether the user's session is live: remembered, else asked of the table (and remembered if so)."""
        if session_id in self._ended:
            return False
        if self._live.get(session_id) == user_id:
            return True
        live = await self._ask(session_id, user_id)
        if live and session_id not in self._ended:  # not ended while the table was asked
            self._live[session_id] = user_id
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
        expires_at = max(expires_at, self._ended.get(session_id, 0.0))
        if expires_at > self._clock():
            self._ended[session_id] = expires_at

    def forget(self) -> None:
        """Ask the table again for every session (e.g. after missing broker messages)."""
        self._live.clear()


def _until_value(key: object, expires_at: float, now: float) -> float:
    return expires_at


def _until_token_expiry(token: str, known: tuple[Principal, object, str | None], now: float) -> float:
    return known[0].expires_at


class VerifiedTokens:
    """Principals of tokens whose signature and claims were verified, until each token's ``exp``.

    A token is a bearer secret held in memory either way (the socket keeps its principal); the cache only spares
    decoding and checking the same token again when a client reconnects or opens another tab.
    """

    def __init__(self, capacity: int = TOKEN_CACHE_SIZE, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._principals: TLRUCache[str, tuple[Principal, object, str | None]] = TLRUCache(
            capacity, _until_token_expiry, timer=clock
        )

    def get(self, token: str) -> tuple[Principal, object, str | None] | None:
        """The token's principal, the key that verified it and that key's ``kid``, unless the token expired since."""
        return self._principals.get(token)

    def put(self, token: str, principal: Principal, key: object, kid: str | None) -> None:
        """Remember a verified token until its ``exp``."""
        if principal.expires_at > self._clock():
            self._principals[token] = (principal, key, kid)
