"""A cache of a Supabase project's signing keys, fetched from its JWKS endpoint."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from jwt import PyJWK, PyJWTError

from .errors import InvalidToken

logger = logging.getLogger(__name__)

# Only public keys are taken from a URL: a symmetric ("oct") key in a JWKS would let anyone who can
# read the endpoint sign tokens, so such entries are ignored rather than trusted.
_PUBLIC_KEY_TYPES = frozenset({"EC", "RSA"})


def jwks_url(supabase_url: str) -> str:
    """The JWKS endpoint of a Supabase project."""
    return f"{supabase_url.rstrip('/')}/auth/v1/.well-known/jwks.json"


class JwksCache:
    """Signing keys by ``kid``: refreshed after ``ttl`` seconds, or early when a token names an unknown kid.

    Refreshes are at most one every ``min_refresh_interval`` seconds, so a flood of tokens with made-up kids
    costs the JWKS endpoint one request per interval. While the endpoint is unreachable, keys already cached
    keep serving past their ``ttl`` (a short outage must not log everyone out).
    """

    def __init__(
        self,
        jwks_url: str | None,
        *,
        http: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
        ttl: float = 600,
        min_refresh_interval: float = 30,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.jwks_url = jwks_url
        self.ttl = ttl
        self.min_refresh_interval = min_refresh_interval
        self._owns_http = http is None and jwks_url is not None
        self._http = http if http is not None or jwks_url is None else httpx.AsyncClient(timeout=timeout)
        self._headers = {"Accept": "application/json", **(headers or {})}
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch, successful or not
        self._lock = asyncio.Lock()
        self.fetches = 0  # requests sent to the endpoint, for metrics and tests

    @classmethod
    def of(cls, document: Any) -> JwksCache:
        """A fixed key set (the local backend's own, as it publishes it), read exactly as a fetched one; never
        refreshed, so a token naming any other kid is refused."""
        cache = cls(None, ttl=math.inf)
        cache._keys = _parse_key_set(document)
        cache._fetched_at = cache._clock()
        return cache

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.aclose()

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    @property
    def loaded(self) -> bool:
        """Whether a fetch has ever succeeded (the key set may still be empty)."""
        return self._fetched_at is not None

    async def get_key(self, kid: str) -> PyJWK:
        """The public key with this ``kid``, or :class:`InvalidToken` when the project publishes none."""
        key = self._keys.get(kid)
        if key is not None and (self._is_fresh() or self._lock.locked()):
            return key  # while another task refreshes, a known key serves without waiting
        async with self._lock:
            # Another task may have refreshed while this one waited for the lock.
            if kid not in self._keys or not self._is_fresh():
                if self._may_refresh():
                    await self._refresh()
                elif kid not in self._keys:
                    logger.debug("JWKS refresh for unknown kid %r skipped: rate limited", kid)
            key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("invalid token")
        return key

    async def refresh(self) -> None:
        """Fetch the key set now (e.g. at startup), regardless of the rate limit."""
        async with self._lock:
            await self._refresh()

    def _is_fresh(self) -> bool:
        return self._fetched_at is not None and self._clock() - self._fetched_at < self.ttl

    def _may_refresh(self) -> bool:
        return self._attempted_at is None or self._clock() - self._attempted_at >= self.min_refresh_interval

    async def _refresh(self) -> None:
        if self.jwks_url is None or self._http is None:
            return  # a fixed key set
        self._attempted_at = self._clock()
        self.fetches += 1
        try:
            response = await self._http.get(self.jwks_url, headers=self._headers)
            response.raise_for_status()
            keys = _parse_key_set(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            # Stale keys stay in place: tokens they verify are still genuine.
            logger.warning("JWKS fetch from %s failed: %s", self.jwks_url, exc)
            return
        self._keys = keys  # replace, not merge: a key the project retired must stop verifying
        self._fetched_at = self._attempted_at


def _parse_key_set(document: Any) -> dict[str, PyJWK]:
    """Usable public keys of a JWKS document by kid; ``ValueError`` when the document is not a JWKS."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK set")
    keys: dict[str, PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") not in _PUBLIC_KEY_TYPES:
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid or entry.get("use", "sig") != "sig":
            continue
        try:
            keys[kid] = PyJWK(entry)
        except PyJWTError as exc:
            logger.warning("JWKS key %r ignored: %s", kid, exc)
    return keys
