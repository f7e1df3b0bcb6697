"""The token a channel acts with: the anon key, or a user's access token, checked as Realtime words refusals."""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final
from uuid import UUID

import jwt

from ..auth.errors import AuthError, SessionRevoked
from ..auth.tokens import Principal


@dataclass(frozen=True, slots=True)
class Claims:
    """Who a channel acts as: ``raw`` becomes ``request.jwt.claims`` when its changes are read back."""

    role: str
    sub: UUID | None
    exp: int | None
    raw: dict[str, Any] = field(repr=False)
    token: str = field(repr=False)


SESSION_ENDED: Final = "The token's session has ended"


class TokenRefused(Exception):
    """A token Realtime would refuse; ``str()`` is its reason, e.g. ``InvalidJWTToken: Token has expired …``."""


Authenticate = Callable[[str], Awaitable[Principal]]


class Tokens:
    """Checks tokens: the anon key by comparison, user tokens through the identity backend (session live too)."""

    def __init__(self, authenticate: Authenticate, anon_key: str) -> None:
        self._authenticate = authenticate
        self.anon_key = anon_key
        try:  # our own key: compared, not verified (and ANON_KEY may be any string)
            anon: dict[str, Any] = jwt.decode(anon_key, options={"verify_signature": False})
        except jwt.PyJWTError:
            anon = {}
        exp = anon.get("exp")
        self._anon = Claims("anon", None, exp if isinstance(exp, int) else None, {**anon, "role": "anon"}, anon_key)

    def is_anon_key(self, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self.anon_key.encode())

    async def check(self, token: str) -> Claims:
        """The claims of ``token``; :class:`TokenRefused` with Realtime's reason when it is not good."""
        if self.is_anon_key(token):
            return self._anon
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise TokenRefused("MalformedJWT: The token provided is not a valid JWT") from exc
        exp = unverified.get("exp")
        if isinstance(exp, int) and exp <= time.time():
            raise TokenRefused(f"InvalidJWTToken: Token has expired {int(time.time()) - exp} seconds ago")
        try:
            principal = await self._authenticate(token)
        except SessionRevoked as exc:
            raise TokenRefused(f"InvalidJWTToken: {SESSION_ENDED}") from exc
        except AuthError as exc:
            raise TokenRefused("JwtSignatureError: Failed to validate JWT signature") from exc
        raw = {
            "sub": str(principal.user_id),
            "role": principal.role,
            "email": principal.email,
            "exp": principal.expires_at,
            "aud": unverified.get("aud"),
            "session_id": str(principal.session_id) if principal.session_id else None,
        }
        return Claims(principal.role, principal.user_id, principal.expires_at, raw, token)
