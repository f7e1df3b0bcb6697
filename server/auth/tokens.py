"""Access tokens: JWTs with Supabase's claim names, so the same principal serves both identity backends.

:class:`TokenIssuer` signs the local backend's (HS256 or ES256); :class:`SupabaseTokenVerifier` checks a Supabase
project's (its HS256 secret, or ES256/RS256 keys from its JWKS) and, by the same path, the local backend's own.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any
from uuid import UUID

import jwt

from .cache import VerifiedTokens
from .errors import InvalidToken
from .jwks import JwksCache
from .keys import ISSUER, SigningKeys
from .principal import Principal as Principal  # re-exported: where callers have always found it

AUDIENCE = "authenticated"
ROLE = "authenticated"


class TokenIssuer:
    """Signs the local backend's access tokens, with the claims GoTrue puts in Supabase's."""

    def __init__(self, keys: SigningKeys, *, ttl: int) -> None:
        self.keys = keys
        self.ttl = ttl

    def issue(
        self, user_id: UUID, email: str, session_id: UUID, *, user_metadata: dict[str, Any] | None = None
    ) -> tuple[str, int]:
        """A signed access token and its ``exp``."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": str(user_id),
            "aud": AUDIENCE,
            "role": ROLE,
            "email": email,
            "phone": "",
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": user_metadata or {},
            "session_id": str(session_id),
            "aal": "aal1",
            "amr": [{"method": "password", "timestamp": now}],
            "is_anonymous": False,
            "iat": now,
            "exp": now + self.ttl,
            "jti": uuid.uuid4().hex,
        }
        return self.keys.sign(claims), now + self.ttl


def principal_from_claims(claims: dict[str, object]) -> Principal:
    try:
        user_id = UUID(str(claims["sub"]))
        raw_session = claims.get("session_id")
        session_id = UUID(str(raw_session)) if raw_session else None
    except ValueError as exc:
        raise InvalidToken("invalid token") from exc
    email = claims.get("email")
    return Principal(
        user_id=user_id,
        email=email if isinstance(email, str) else None,
        role=str(claims.get("role", ROLE)),
        session_id=session_id,
        expires_at=int(claims["exp"]),  # type: ignore[call-overload]
    )


# The algorithms each kind of key may verify, fixed here and never read from the token alone: the header's ``alg``
# only picks among these, so ``none``, HS256-with-a-public-key and curve or padding swaps have nowhere to go.
_ALGORITHMS_BY_KEY_TYPE: dict[str, frozenset[str]] = {
    "oct": frozenset({"HS256"}),  # only the configured shared secret, never a key from the JWKS
    "EC": frozenset({"ES256"}),  # P-256; PyJWT checks the key's curve against the algorithm
    "RSA": frozenset({"RS256"}),
}


class SupabaseTokenVerifier:
    """Verifies Supabase access tokens: HS256 with the project's legacy JWT secret, or ES256/RS256 via its JWKS.

    Either source may be ``None`` (a project that has moved to signing keys, or one that never left the secret);
    tokens for a missing source are refused. ``issuer``, when given, must match ``iss`` exactly; note that it is
    ``https://<ref>.supabase.co/auth/v1`` even when the project is reached through a custom domain.
    """

    def __init__(
        self,
        hs256_secret: str | None,
        jwks: JwksCache | None,
        *,
        audience: str = AUDIENCE,
        issuer: str | None = None,
        role: str | None = ROLE,
        leeway: float = 5.0,
    ) -> None:
        if not hs256_secret and jwks is None:
            raise ValueError("need a JWT secret, a JWKS, or both")
        self._secret = hs256_secret or None
        self.jwks = jwks
        self.audience = audience
        self.issuer = issuer
        self.role = role
        self.leeway = leeway
        self.verified = VerifiedTokens()

    async def verify(self, token: str) -> Principal:
        """Return the token's principal (carrying the token) or raise :class:`InvalidToken`.

        A token verified before with the same key is not decoded again until its ``exp`` (reconnects and tabs
        present the same token); its key is still looked up each time, so a retired key stops it at once.
        """
        known = self.verified.get(token)
        if known is not None:
            principal, key, kid = known
            if key is self._secret or (kid is not None and await self._still_published(kid, key)):
                return principal
        alg, key, kid = await self._key(token)
        principal = dataclasses.replace(principal_from_claims(self._decode(token, alg, key)), access_token=token)
        self.verified.put(token, principal, key, kid)
        return principal

    async def _still_published(self, kid: str, key: Any) -> bool:
        """The JWKS still holds the very key that verified a token (a refreshed set makes new key objects)."""
        assert self.jwks is not None
        try:
            return (await self.jwks.get_key(kid)).key is key
        except InvalidToken:
            return False

    async def verify_claims(self, token: str) -> dict[str, Any]:
        """The verified claims of ``token``; :class:`InvalidToken` on any fault."""
        alg, key, _ = await self._key(token)
        return self._decode(token, alg, key)

    async def _key(self, token: str) -> tuple[str, Any, str | None]:
        """The algorithm the token's header names, the key that may verify it and its ``kid`` (JWKS keys only);
        :class:`InvalidToken` when there is none."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("invalid token") from exc
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str):
            raise InvalidToken("invalid token")
        if alg == "HS256" and self._secret is not None:
            return alg, self._secret, None
        if alg in _ALGORITHMS_BY_KEY_TYPE["EC"] | _ALGORITHMS_BY_KEY_TYPE["RSA"] and self.jwks is not None:
            if not isinstance(kid, str) or not kid:
                raise InvalidToken("invalid token")
            jwk = await self.jwks.get_key(kid)
            # The key's own type (and ``alg``, when the JWKS states one) must admit the token's algorithm.
            if alg not in _ALGORITHMS_BY_KEY_TYPE.get(jwk.key_type or "", frozenset()) or jwk.algorithm_name != alg:
                raise InvalidToken("invalid token")
            return alg, jwk.key, kid
        raise InvalidToken("invalid token")

    def _decode(self, token: str, alg: str, key: Any) -> dict[str, Any]:
        require = ["exp", "sub", "aud"] + (["iss"] if self.issuer else [])
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],  # exactly the one the key admits
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": require},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("invalid token") from exc
        if self.role is not None and claims.get("role") != self.role:
            # e.g. a ``service_role`` or ``anon`` key someone added an audience to: not an end user
            raise InvalidToken("invalid token")
        return claims
