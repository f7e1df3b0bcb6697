"""Access tokens: HS256 JWTs with Supabase's claim names, so one verifier serves both identity backends."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from uuid import UUID

import jwt

from .errors import InvalidToken

AUDIENCE = "authenticated"
ROLE = "authenticated"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token speaks for."""

    user_id: UUID
    email: str | None
    role: str
    session_id: UUID | None
    expires_at: int


class TokenIssuer:
    """Signs access tokens for the local identity backend."""

    def __init__(self, secret: str, *, ttl: int, issuer: str = "sensay-hub") -> None:
        self._secret = secret
        self.ttl = ttl
        self.issuer = issuer

    def issue(self, user_id: UUID, email: str, session_id: UUID) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": str(user_id),
            "aud": AUDIENCE,
            "role": ROLE,
            "email": email,
            "session_id": str(session_id),
            "iat": now,
            "exp": now + self.ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")


class TokenVerifier:
    """Verifies HS256 tokens signed with one shared secret (ours, or a Supabase project's)."""

    def __init__(self, secret: str, *, audience: str = AUDIENCE, leeway: float = 5.0) -> None:
        self._secret = secret
        self.audience = audience
        self.leeway = leeway

    def verify(self, token: str) -> Principal:
        """Return the token's principal or raise :class:`InvalidToken` (never leaking why in detail)."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],  # a fixed list: ``alg: none`` and algorithm confusion are refused
                audience=self.audience,
                leeway=self.leeway,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("invalid token") from exc
        return principal_from_claims(claims)


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
