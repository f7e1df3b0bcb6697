"""The local identity backend: users in our own table, argon2id hashes, our own JWTs and sessions."""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from ..store import sessions, users
from ..store.errors import Conflict
from ..store.records import User
from .errors import EmailTaken, InvalidCredentials, InvalidRefreshToken, InvalidToken, SessionRevoked
from .identity import TokenPair
from .passwords import hash_password, needs_rehash, verify_password
from .tokens import Principal, TokenIssuer, TokenVerifier


def _digest(refresh_token: str) -> bytes:
    return hashlib.sha256(refresh_token.encode()).digest()


class LocalIdentity:
    """Implements :class:`~server.auth.identity.IdentityBackend` against PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool, *, secret: str, access_ttl: int, refresh_ttl: int) -> None:
        self.pool = pool
        self.issuer = TokenIssuer(secret, ttl=access_ttl)
        self.verifier = TokenVerifier(secret)
        self.refresh_ttl = refresh_ttl

    async def signup(self, email: str, password: str) -> User:
        try:
            return await users.create_user(self.pool, email, await hash_password(password))
        except Conflict as exc:
            raise EmailTaken("an account with this email already exists") from exc

    async def login(self, email: str, password: str) -> TokenPair:
        found = await users.get_credentials(self.pool, email)
        password_hash = found[1] if found else None
        if not await verify_password(password_hash, password) or found is None:
            raise InvalidCredentials("invalid email or password")
        user = found[0]
        if password_hash and needs_rehash(password_hash):
            await users.set_password_hash(self.pool, user.id, await hash_password(password))
        refresh_token = secrets.token_urlsafe(32)
        session = await sessions.create_session(self.pool, user.id, _digest(refresh_token), self._refresh_expiry())
        return self._pair(user, session.id, refresh_token)

    async def refresh(self, refresh_token: str) -> TokenPair:
        new_token = secrets.token_urlsafe(32)
        session = await sessions.rotate_refresh_token(
            self.pool, _digest(refresh_token), _digest(new_token), self._refresh_expiry()
        )
        if session is None:
            raise InvalidRefreshToken("invalid refresh token")
        user = await users.get_user(self.pool, session.user_id)
        if user is None:
            raise InvalidRefreshToken("invalid refresh token")
        return self._pair(user, session.id, new_token)

    async def logout(self, principal: Principal) -> None:
        if principal.session_id is not None:
            await sessions.revoke_session(self.pool, principal.session_id, principal.user_id)

    async def authenticate(self, token: str) -> Principal:
        principal = self.verifier.verify(token)
        if principal.session_id is None or not await sessions.session_is_live(
            self.pool, principal.session_id, principal.user_id
        ):
            raise SessionRevoked("session has ended; log in again")
        return principal

    async def get_user(self, principal: Principal) -> User:
        user = await users.get_user(self.pool, principal.user_id)
        if user is None:
            raise InvalidToken("user no longer exists")
        return user

    def session_ended(self, session_id: UUID, expires_at: int) -> None:
        """Nothing to do: every process checks the shared ``sessions`` table."""

    def _refresh_expiry(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.refresh_ttl)

    def _pair(self, user: User, session_id: UUID, refresh_token: str) -> TokenPair:
        access = self.issuer.issue(user.id, user.email, session_id)
        return TokenPair(
            access_token=access,
            refresh_token=refresh_token,
            expires_in=self.issuer.ttl,
            expires_at=int(time.time()) + self.issuer.ttl,
            user=user,
        )
