"""Brute-force limits of the local backend: sign-up, login and refresh per client address, and per email.

Per email (two separate counts of the same rate), sign-ups count every attempt and logins count only failures
(checked before the password is, so a locked-out guesser learns nothing), which keeps a user's own logins from
using up their allowance. Emails are hashed before they become keys, so no address sits in Redis in the clear.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..ratelimit import RateLimiter, RateLimitItem, parse_rate
from .errors import RateLimited


@dataclass(frozen=True)
class AuthRates:
    """One rate per kind of attempt (as ``limits`` parses them, e.g. ``"30/5minutes"``)."""

    signup: RateLimitItem
    login: RateLimitItem
    refresh: RateLimitItem
    email: RateLimitItem

    @classmethod
    def parse(cls, *, signup: str, login: str, refresh: str, email: str) -> AuthRates:
        return cls(parse_rate(signup), parse_rate(login), parse_rate(refresh), parse_rate(email))


def _email_key(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


class AuthThrottle:
    """Raises :class:`RateLimited` (with the seconds to wait) when an attempt is over its limit."""

    def __init__(self, limiter: RateLimiter, rates: AuthRates) -> None:
        self.limiter = limiter
        self.rates = rates

    async def signup(self, client: str, email: str) -> None:
        await self._hit(self.rates.signup, "signup", client)
        await self._hit(self.rates.email, "signup-email", _email_key(email))

    async def login(self, client: str, email: str) -> None:
        await self._hit(self.rates.login, "login", client)
        _raise(await self.limiter.check(self.rates.email, "login-email", _email_key(email)))

    async def login_failed(self, email: str) -> None:
        await self.limiter.hit(self.rates.email, "login-email", _email_key(email))

    async def refresh(self, client: str) -> None:
        await self._hit(self.rates.refresh, "refresh", client)

    async def _hit(self, rate: RateLimitItem, kind: str, key: str) -> None:
        if key:  # a caller with no address (an in-process call) is not limited by address
            _raise(await self.limiter.hit(rate, kind, key))


def _raise(retry_after: float | None) -> None:
    if retry_after is not None:
        raise RateLimited("too many attempts; try again later", retry_after)
