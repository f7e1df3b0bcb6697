"""The Supabase identity backend: users and sessions live in Supabase Auth (GoTrue); we verify its JWTs.

Our own tables reference ``users(id)``, so every Supabase user we meet gets a row there too (same id, the email,
``password_hash`` NULL), written on sign-up, login, and the first authenticated request we see of theirs.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable
from datetime import datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from uuid import UUID

import asyncpg
import httpx
import jwt
from cachetools import LRUCache
from supabase_auth import AsyncGoTrueClient
from supabase_auth.errors import AuthError as GoTrueError
from supabase_auth.errors import AuthRetryableError, AuthUnknownError
from supabase_auth.types import Session as GoTrueSession
from supabase_auth.types import User as GoTrueUser

from ..store import users
from ..store.errors import Conflict
from ..store.records import User
from .errors import (
    AuthError,
    AuthUnavailable,
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    InvalidToken,
    SessionRevoked,
    SignupRejected,
)
from .identity import TokenPair
from .jwks import JwksCache, jwks_url
from .tokens import Principal, SupabaseTokenVerifier

logger = logging.getLogger(__name__)


# Error codes from https://supabase.com/docs/guides/auth/debugging/error-codes; older servers send none.
_EMAIL_TAKEN = frozenset({"user_already_exists", "email_exists", "identity_already_exists"})
_SIGNUP_REJECTED = frozenset(
    {"weak_password", "email_address_invalid", "email_address_not_authorized", "signup_disabled", "validation_failed"}
)


async def upsert_user(db: users.Executor, user_id: UUID, email: str, created_at: datetime | None) -> User:
    """Insert or update the local row of a Supabase user; :class:`EmailTaken` if another id holds the email."""
    try:
        return await users.upsert_user(db, user_id, email, created_at)
    except Conflict as exc:
        raise EmailTaken("an account with this email already exists") from exc


class RevokedSessions:
    """Session ids logged out through this process, each kept until its last token's ``exp``.

    Bounded: when full, the entries closest to expiry go first (their tokens are the next to die anyway).
    """

    def __init__(self, capacity: int = 100_000, *, clock: Callable[[], float] = time.time) -> None:
        self.capacity = capacity
        self._clock = clock
        self._expiry: dict[UUID, float] = {}
        self._heap: list[tuple[float, UUID]] = []

    def add(self, session_id: UUID, expires_at: float) -> None:
        if expires_at <= self._clock():
            return
        self._purge()
        if expires_at > self._expiry.get(session_id, 0):
            self._expiry[session_id] = expires_at
            heapq.heappush(self._heap, (expires_at, session_id))
        while len(self._expiry) > self.capacity:
            self._pop()

    def __contains__(self, session_id: object) -> bool:
        expires_at = self._expiry.get(session_id) if isinstance(session_id, UUID) else None
        return expires_at is not None and expires_at > self._clock()

    def __len__(self) -> int:
        self._purge()
        return len(self._expiry)

    def _purge(self) -> None:
        now = self._clock()
        while self._heap and self._heap[0][0] <= now:
            self._pop()

    def _pop(self) -> None:
        expires_at, session_id = heapq.heappop(self._heap)
        if self._expiry.get(session_id) == expires_at:  # else a stale heap entry of a re-added id
            del self._expiry[session_id]


class SupabaseIdentity:
    """Implements :class:`~server.auth.identity.IdentityBackend` with Supabase Auth through supabase-py.

    Every call builds a fresh GoTrue client (``persist_session=False``, ``auto_refresh_token=False``), so no
    session state is ever shared between users; only the HTTP connection pool is, and it refuses cookies.

    Logout: Supabase access tokens stay valid until their ``exp`` after the session ends at Supabase, because
    they are verified offline. Sessions logged out through this process are therefore remembered until their
    tokens expire and refused at once; a logout made elsewhere (another node, another client of Supabase) shows
    only when the token expires or a call reaches Supabase itself (:meth:`refresh`, :meth:`get_user`).
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        url: str,
        anon_key: str,
        jwt_secret: str | None = None,
        use_jwks: bool = True,
        issuer: str | None = None,
        http: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        revoked_capacity: int = 100_000,
        known_users_capacity: int = 10_000,
    ) -> None:
        self.pool = pool
        self.auth_url = f"{url.rstrip('/')}/auth/v1"
        # What supabase-py's create_client sends: the key identifies the project to the API gateway.
        self._headers = {"apiKey": anon_key, "Authorization": f"Bearer {anon_key}"}
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=True,
            # One pool for everyone's requests, so no cookie may be remembered from one user to the next.
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        )
        self.jwks = JwksCache(jwks_url(url), http=self._http, headers={"apiKey": anon_key}) if use_jwks else None
        self.verifier = SupabaseTokenVerifier(jwt_secret, self.jwks, issuer=issuer)
        self.revoked = RevokedSessions(revoked_capacity)
        self._known: LRUCache[UUID, str] = LRUCache(known_users_capacity)  # user id -> email already in our table

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def signup(self, email: str, password: str, *, client: str = "") -> User:
        try:
            response = await self._client().sign_up({"email": email, "password": password})
        except GoTrueError as exc:
            raise _signup_error(exc) from exc
        except ValueError as exc:
            raise _unparseable(exc) from exc
        user = response.user
        if user is None:
            raise AuthUnavailable("the identity service gave no user; try again")
        # With email confirmation on, GoTrue answers a sign-up for a registered email with a made-up user
        # that has no identities, rather than an error, so as not to reveal who has an account.
        if user.identities == []:
            raise EmailTaken("an account with this email already exists")
        local = await self._ensure_user(user)
        if response.session is not None:
            # Auto-confirmed projects log the new user in; our sign-up doesn't, so end that session.
            await self._sign_out(response.session.access_token)
        return local

    async def login(self, email: str, password: str, *, client: str = "") -> TokenPair:
        try:
            response = await self._client().sign_in_with_password({"email": email, "password": password})
        except GoTrueError as exc:
            raise _login_error(exc) from exc
        except ValueError as exc:
            raise _unparseable(exc) from exc
        return await self._pair(response.session)

    async def refresh(self, refresh_token: str, *, client: str = "") -> TokenPair:
        try:
            response = await self._client().refresh_session(refresh_token)
        except GoTrueError as exc:
            raise _unavailable(exc) or InvalidRefreshToken("invalid refresh token") from exc
        except ValueError as exc:
            raise _unparseable(exc) from exc
        session = response.session
        if session is None:
            raise AuthUnavailable("the identity service gave no session; try again")
        # Should our call to Supabase's logout have failed, its refresh token must still not revive the session.
        try:
            claims = jwt.decode(session.access_token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise _unparseable(exc) from exc
        if _uuid(claims.get("session_id")) in self.revoked:
            raise InvalidRefreshToken("invalid refresh token")
        return await self._pair(session)

    async def logout(self, principal: Principal) -> None:
        """End the session here at once (see the class docstring) and at Supabase (``scope=local``)."""
        if principal.session_id is not None:
            self.revoked.add(principal.session_id, principal.expires_at)
        if principal.access_token is not None:
            await self._sign_out(principal.access_token)

    def session_ended(self, session_id: UUID, expires_at: int) -> None:
        """Another process logged this session out: refuse its tokens here too."""
        self.revoked.add(session_id, expires_at)

    async def authenticate(self, token: str) -> Principal:
        principal = await self.verifier.verify(token)
        if principal.session_id is None:
            raise InvalidToken("invalid token")  # not issued by Supabase Auth for a login; can't be logged out
        if principal.session_id in self.revoked:
            raise SessionRevoked("session has ended; log in again")
        if not principal.email:
            # Anonymous and phone-only Supabase users: our users table needs an email.
            raise InvalidToken("this account has no email address")
        if self._known.get(principal.user_id) != principal.email:  # a hit counts as a use
            await self._remember(await upsert_user(self.pool, principal.user_id, principal.email, None))
        return principal

    async def get_user(self, principal: Principal) -> User:
        """The user as Supabase knows them now (which also confirms the session there); our row if it can't say."""
        if principal.access_token is not None:
            try:
                response = await self._client().get_user(principal.access_token)
            except GoTrueError as exc:
                if _unavailable(exc) is None:
                    raise SessionRevoked("session has ended; log in again") from exc
                logger.warning("Supabase get_user failed, answering from our table: %s", exc)
            except ValueError as exc:
                logger.warning("Supabase get_user answer unreadable, answering from our table: %s", exc)
            else:
                if response is not None:
                    return await self._ensure_user(response.user)
        user = await users.get_user(self.pool, principal.user_id)
        if user is None:
            raise InvalidToken("user no longer exists")
        return user

    def _client(self) -> AsyncGoTrueClient:
        return AsyncGoTrueClient(
            url=self.auth_url,
            headers=self._headers,
            http_client=self._http,
            persist_session=False,
            auto_refresh_token=False,
        )

    async def _sign_out(self, access_token: str) -> None:
        """End one session at Supabase; failures are logged, not raised (our side has already ended it)."""
        try:
            # ``admin.sign_out`` is just ``POST /logout`` with the user's own token: no service key involved.
            await self._client().admin.sign_out(access_token, "local")
        except GoTrueError as exc:
            if _unavailable(exc) is not None:
                logger.warning("Supabase logout failed; its refresh token stays usable upstream: %s", exc)
            # else 401/403/404: the session is already gone there

    async def _pair(self, session: GoTrueSession | None) -> TokenPair:
        if session is None:
            raise AuthUnavailable("the identity service gave no session; try again")
        user = await self._ensure_user(session.user)
        return TokenPair(
            access_token=session.access_token,
            refresh_token=session.refresh_token,
            expires_in=session.expires_in,
            expires_at=session.expires_at or int(time.time()) + session.expires_in,
            user=user,
            token_type=session.token_type or "bearer",
        )

    async def _ensure_user(self, user: GoTrueUser) -> User:
        if not user.email:
            raise InvalidToken("this account has no email address")
        local = await upsert_user(self.pool, UUID(user.id), user.email, user.created_at)
        await self._remember(local)
        return local

    async def _remember(self, user: User) -> None:
        self._known[user.id] = user.email


def _uuid(value: object) -> UUID | None:
    try:
        return UUID(str(value)) if value else None
    except ValueError:
        return None


def _unavailable(exc: GoTrueError) -> AuthUnavailable | None:
    """:class:`AuthUnavailable` when GoTrue could not give a real answer about the user, else ``None``."""
    status = getattr(exc, "status", 0) or 0
    if isinstance(exc, AuthRetryableError | AuthUnknownError) or status >= 500 or status in (0, 429):
        return AuthUnavailable("the identity service is unavailable; try again")
    if exc.code in ("over_request_rate_limit", "over_email_send_rate_limit", "request_timeout"):
        return AuthUnavailable("the identity service is busy; try again")
    if status == 401 and exc.code is None and "api key" in exc.message.lower():
        # The API gateway in front of GoTrue refused our key: our configuration, not the user's fault.
        logger.error("Supabase refused the API key (check SUPABASE_URL and SUPABASE_ANON_KEY): %s", exc.message)
        return AuthUnavailable("the identity service is unavailable; try again")
    return None


def _unparseable(exc: Exception) -> AuthUnavailable:
    logger.warning("Supabase Auth answer unreadable: %s", exc)
    return AuthUnavailable("the identity service gave an unexpected answer")


def _signup_error(exc: GoTrueError) -> AuthError:
    if exc.code in _EMAIL_TAKEN or (exc.code is None and "already registered" in exc.message.lower()):
        return EmailTaken("an account with this email already exists")
    if exc.code in _SIGNUP_REJECTED:
        return SignupRejected(exc.message)  # GoTrue's messages are meant for end users
    return _unavailable(exc) or SignupRejected("sign-up refused")


def _login_error(exc: GoTrueError) -> AuthError:
    if exc.code == "email_not_confirmed":
        return InvalidCredentials("email not confirmed; follow the link we sent you")
    return _unavailable(exc) or InvalidCredentials("invalid email or password")
