"""Brute-force limits of the local backend: sign-up, login and refresh, per client address and per account.

Logins are limited the way GoTrue and OWASP's guidance do it, so that guessing stops without locking the owner
out:

- per client address, every attempt (``RATE_LIMIT_LOGIN``): one address cannot guess at many accounts;
- per account and client address, failures (``RATE_LIMIT_EMAIL``): one address cannot guess at one account.
  The attempt is counted before the password is verified and the count is forgotten when the password is
  right, so parallel guesses cannot exceed the limit and the owner's own logins never use it up;
- per account across addresses, attempts (``RATE_LIMIT_ACCOUNT``): beyond it the account is under attack from
  many addresses. Then an address that has failed on the account is refused, and one that has not is slowed
  (``LOGIN_SLOWDOWN`` seconds before its password is verified) but never refused: a guesser with many addresses
  gets one slow guess per address, and the owner, from an address that has not failed, still logs in.

Every count is taken atomically (``limits``' moving window: a lock in memory, a Lua script in Redis) before the
work it limits. Emails are hashed before they become keys, so no address sits in Redis in the clear.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

from .. import metrics
from ..ratelimit import RateLimiter, RateLimitItem, parse_rate
from .errors import RateLimited


@dataclass(frozen=True)
class AuthRates:
    """One rate per kind of attempt (as ``limits`` parses them, e.g. ``"30/5minutes"``)."""

    signup: RateLimitItem
    login: RateLimitItem
    refresh: RateLimitItem
    email: RateLimitItem
    account: RateLimitItem

    @classmethod
    def parse(cls, *, signup: str, login: str, refresh: str, email: str, account: str) -> AuthRates:
        return cls(parse_rate(signup), parse_rate(login), parse_rate(refresh), parse_rate(email), parse_rate(account))


def _email_key(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


class AuthThrottle:
    """Raises :class:`RateLimited` (with the seconds to wait) when an attempt is over its limit."""

    def __init__(self, limiter: RateLimiter, rates: AuthRates, *, slowdown: float = 1.0) -> None:
        self.limiter = limiter
        self.rates = rates
        self.slowdown = slowdown

    async def signup(self, client: str, email: str) -> None:
        await self._hit(self.rates.signup, "signup", client)
        await self._hit(self.rates.email, "signup-email", _email_key(email))

    async def login(self, client: str, email: str) -> None:
        """Count a login attempt before its password is verified; :meth:`login_succeeded` once it was right."""
        await self._hit(self.rates.login, "login", client)
        account, address = _email_key(email), client or "in-process"
        _raise(await self.limiter.hit(self.rates.email, "login-failures", account, address), "login_account_address")
        retry_after = await self.limiter.hit(self.rates.account, "login-account", account)
        if retry_after is None:
            return
        # Our own attempt is in the count (forgotten only if it succeeds): more than one means earlier failures.
        if await self.limiter.used(self.rates.email, "login-failures", account, address) > 1:
            _raise(retry_after, "login_account")
        metrics.RATE_LIMITED.labels("login_slowed").inc()
        await asyncio.sleep(self.slowdown)

    async def login_succeeded(self, client: str, email: str) -> None:
        """The password was right: this address's failures on the account are forgotten."""
        await self.limiter.clear(self.rates.email, "login-failures", _email_key(email), client or "in-process")

    async def refresh(self, client: str) -> None:
        await self._hit(self.rates.refresh, "refresh", client)

    async def _hit(self, rate: RateLimitItem, kind: str, key: str) -> None:
        if key:  # a caller with no address (an in-process call) is not limited by address
            _raise(await self.limiter.hit(rate, kind, key), kind)


def _raise(retry_after: float | None, limit: str) -> None:
    if retry_after is not None:
        metrics.RATE_LIMITED.labels(limit.replace("-", "_")).inc()
        raise RateLimited("too many attempts; try again later", retry_after)
