"""The local identity backend: users in our own table, argon2id hashes, our own JWTs and sessions.

It is the one behind both ``/api/auth`` and the GoTrue-compatible ``/auth/v1``, so the two share users and
sessions. Refresh tokens rotate as GoTrue's do (:mod:`.refresh_tokens`); an old one presented again ends its
session. Sign-up, login and refresh pass through :class:`~.throttle.AuthThrottle` first.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import asyncpg

from ..store import sessions, users
from ..store.errors import Conflict
from ..store.records import User
from ..store.sessions import Refresh
from ..store.users import Profile as Profile  # re-exported: what the GoTrue stand-in shows
from . import refresh_tokens
from .cache import LiveSessions
from .errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    InvalidToken,
    RefreshTokenReused,
    SamePassword,
    SessionExpired,
    SessionRevoked,
    WeakPassword,
)
from .identity import TokenPair
from .jwks import JwksCache
from .keys import ISSUER, SigningKeys
from .passwords import Passwords
from .throttle import AuthThrottle
from .tokens import Principal, SupabaseTokenVerifier, TokenIssuer

LogoutScope = Literal["global", "local", "others"]

MIN_PASSWORD_LENGTH = 8  # NIST SP 800-63B: length, not composition rules
MAX_PASSWORD_LENGTH = 1024  # bounds the argon2 work one request can ask for


def _check_password_rules(password: str) -> None:
    """:class:`WeakPassword` (with GoTrue's reason names) unless ``password`` may be set."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"Password should be at least {MIN_PASSWORD_LENGTH} characters.", ["length"])
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"Password cannot be longer than {MAX_PASSWORD_LENGTH} characters.", ["length"])


class LocalIdentity:
    """Implements :class:`~server.auth.identity.IdentityBackend` against PostgreSQL, and what ``/auth/v1`` needs."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        keys: SigningKeys,
        anon_key: str,
        passwords: Passwords,
        throttle: AuthThrottle,
        access_ttl: int,
        refresh_ttl: int,
        reuse_interval: float = 10.0,
    ) -> None:
        self.pool = pool
        self.keys = keys
        self.anon_key = anon_key
        self.passwords = passwords
        self.throttle = throttle
        self.issuer = TokenIssuer(keys, ttl=access_ttl)
        # One verification path for both algorithms: the ES256 key is read from the JWKS we publish, exactly as a
        # Supabase project's keys are read from its own.
        self.verifier = SupabaseTokenVerifier(
            keys.secret if keys.algorithm == "HS256" else None,
            JwksCache.of(keys.jwks()) if keys.algorithm == "ES256" else None,
            issuer=ISSUER,
        )
        self.refresh_ttl = refresh_ttl
        self.reuse_interval = reuse_interval
        self.live = LiveSessions(functools.partial(sessions.session_is_live, pool))

    @property
    def access_ttl(self) -> int:
        return self.issuer.ttl

    # -- sign-up and login -----------------------------------------------------------------------

    async def signup(self, email: str, password: str, *, client: str = "") -> User:
        return (await self.register(email, password, client=client)).user()

    async def register(
        self, email: str, password: str, *, client: str = "", metadata: dict[str, Any] | None = None
    ) -> Profile:
        """Create a user; :class:`EmailTaken`, :class:`WeakPassword` or :class:`RateLimited` otherwise."""
        await self.throttle.signup(client, email)
        _check_password_rules(password)
        password_hash = await self.passwords.hash(password, client=client)
        try:
            return await users.create_user(self.pool, email, password_hash, metadata=metadata)
        except Conflict as exc:
            raise EmailTaken("an account with this email already exists") from exc

    async def login(self, email: str, password: str, *, client: str = "") -> TokenPair:
        await self.throttle.login(client, email)
        found = await users.get_credentials(self.pool, email)
        password_hash = found[1] if found else None
        # Known and unknown emails take the same path: one query, one argon2 verification, one failure count.
        # The attempt was counted as a failure before the verification; a right password takes it back.
        if not await self.passwords.verify(password_hash, password, client=client) or found is None:
            raise InvalidCredentials("invalid email or password")
        await self.throttle.login_succeeded(client, email)
        profile = found[0]
        if password_hash and self.passwords.needs_rehash(password_hash):
            await users.set_password_hash(self.pool, profile.id, await self.passwords.hash(password, client=client))
        return await self.start_session(profile)

    async def start_session(self, profile: Profile) -> TokenPair:
        """A new session for a user who just proved who they are (login, or sign-up, as GoTrue auto-confirms)."""
        session = await sessions.create_session(self.pool, profile.id, self._refresh_expiry())
        await users.record_sign_in(self.pool, profile.id)
        return self._pair(profile, session.id, session.refresh_counter)

    # -- refresh ---------------------------------------------------------------------------------

    async def refresh(self, refresh_token: str, *, client: str = "") -> TokenPair:
        """New tokens for a refresh token, by GoTrue's rules (see :func:`sessions.use_refresh_token`).

        :class:`RefreshTokenReused` when an old token came back and its session was ended for it,
        :class:`SessionExpired` past the refresh lifetime, :class:`InvalidRefreshToken` for anything else.
        """
        await self.throttle.refresh(client)
        named = refresh_tokens.decode(self.keys, refresh_token)
        if named is None:
            raise InvalidRefreshToken("invalid refresh token")
        outcome, session = await sessions.use_refresh_token(
            self.pool, *named, expires_at=self._refresh_expiry(), reuse_interval=self.reuse_interval
        )
        if outcome is Refresh.EXPIRED:
            raise SessionExpired("session expired; log in again")
        if outcome is Refresh.NOT_FOUND or session is None:
            raise InvalidRefreshToken("invalid refresh token")
        if outcome is Refresh.REUSED:
            raise RefreshTokenReused(
                "refresh token already used; the session is ended", session_id=session.id, user_id=session.user_id
            )
        profile = await users.get_profile(self.pool, session.user_id)
        if profile is None:
            raise InvalidRefreshToken("invalid refresh token")
        return self._pair(profile, session.id, session.refresh_counter)

    # -- sessions --------------------------------------------------------------------------------

    async def logout(self, principal: Principal) -> None:
        await self.end_sessions(principal, "local")

    async def end_sessions(self, principal: Principal, scope: LogoutScope) -> list[UUID]:
        """Revoke the principal's own session (``local``), every session of the user (``global``), or all but
        its own (``others``); return the ids revoked, whose sockets the caller should close."""
        own = principal.session_id
        if scope == "local":
            if own is None:
                return []
            return await sessions.revoke_sessions(self.pool, principal.user_id, only=own)
        return await sessions.revoke_sessions(self.pool, principal.user_id, keep=own if scope == "others" else None)

    async def authenticate(self, token: str) -> Principal:
        principal = await self.verifier.verify(token)
        if principal.session_id is None or not await self.live.is_live(principal.session_id, principal.user_id):
            raise SessionRevoked("session has ended; log in again")
        return principal

    def session_ended(self, session_id: UUID, expires_at: int) -> None:
        """A session ended on some process (announced on the broker): refuse it here without asking the table."""
        self.live.ended(session_id, expires_at)

    # -- the user --------------------------------------------------------------------------------

    async def get_user(self, principal: Principal) -> User:
        return (await self.profile(principal.user_id)).user()

    async def profile(self, user_id: UUID) -> Profile:
        """Everything about the user; :class:`InvalidToken` when they no longer exist."""
        profile = await users.get_profile(self.pool, user_id)
        if profile is None:
            raise InvalidToken("user no longer exists")
        return profile

    async def update_user(
        self,
        principal: Principal,
        *,
        password: str | None = None,
        metadata: dict[str, Any] | None = None,
        client: str = "",
    ) -> tuple[Profile, list[UUID]]:
        """Set a new password and/or merge ``metadata``; return the user and the sessions ended by it.

        A new password ends every other session of the user, as GoTrue does (whoever knew the old one is out).
        """
        password_hash = None
        if password is not None:
            _check_password_rules(password)
            current = await users.get_password_hash(self.pool, principal.user_id)
            if current is not None and await self.passwords.verify(current, password, client=client):
                raise SamePassword("New password should be different from the old password.")
            password_hash = await self.passwords.hash(password, client=client)
        profile = await users.update_profile(
            self.pool, principal.user_id, password_hash=password_hash, metadata=metadata
        )
        if profile is None:
            raise InvalidToken("user no longer exists")
        ended: list[UUID] = []
        if password_hash is not None:
            ended = await sessions.revoke_sessions(self.pool, principal.user_id, keep=principal.session_id)
        return profile, ended

    # -- helpers ---------------------------------------------------------------------------------

    def _refresh_expiry(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.refresh_ttl)

    def _pair(self, profile: Profile, session_id: UUID, refresh_counter: int) -> TokenPair:
        access, expires_at = self.issuer.issue(
            profile.id, profile.email, session_id, user_metadata=profile.user_metadata
        )
        return TokenPair(
            access_token=access,
            refresh_token=refresh_tokens.encode(self.keys, session_id, refresh_counter),
            expires_in=self.issuer.ttl,
            expires_at=expires_at,
            user=profile.user(),
        )
