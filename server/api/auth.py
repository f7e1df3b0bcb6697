"""``/api/auth``: sign-up, login, refresh, logout, me."""

from __future__ import annotations

import time
from typing import Annotated
from uuid import UUID

import msgspec
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from protocol import ErrorCode

from ..auth.identity import TokenPair, User
from ..errors import RefreshTokenReused
from ..state import app_state
from .guard import require_principal
from .operation import Answer, operation, routes_of
from .parsing import read_json
from .responses import json_response

# Not space, in Python's sense and JSON Schema's alike (they differ on \x1c-\x1f, \x85 and \ufeff: named here).
_PART = r"[^@\s\x1c-\x1f\x85\ufeff]+"
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=f"^{_PART}@{_PART}\\.{_PART}$")]
# Length only, as NIST SP 800-63B advises; 1024 bounds the argon2 work an attacker can ask for.
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=1024)]


class Credentials(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password


class LoginBody(msgspec.Struct, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(max_length=254)]
    password: Annotated[str, msgspec.Meta(max_length=1024)]


class RefreshBody(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]


class SignedUp(msgspec.Struct):
    """The new account (log in to get tokens)."""

    user: User


class Me(msgspec.Struct):
    """The caller, their session and when their token expires."""

    user: User
    session_id: UUID | None
    expires_at: Annotated[int, msgspec.Meta(description="When the access token expires (seconds since the epoch).")]


_NO_STORE = {"Cache-Control": "`no-store`: tokens are not cached."}
_TOKENS = Answer(TokenPair, "Access and refresh tokens, in Supabase Auth's shape.", _NO_STORE)
_PROVIDER = (ErrorCode.RATE_LIMITED, ErrorCode.AUTH_UNAVAILABLE)


def client_address(conn: HTTPConnection) -> str:
    """The caller's address (resolved from a trusted proxy's headers before the app saw it: see ``proxies``)."""
    return conn.client.host if conn.client is not None else ""


@operation(
    "POST",
    "/api/auth/signup",
    "signUp",
    tag="auth",
    body=Credentials,
    answers={201: SignedUp},
    errors=[ErrorCode.EMAIL_TAKEN, ErrorCode.SIGNUP_REJECTED, *_PROVIDER],
    public=True,
)
async def signup(request: Request) -> Response:
    """Create an account."""
    body = await read_json(request, Credentials)
    user = await app_state(request)["identity"].signup(
        body.email.strip(), body.password, client=client_address(request)
    )
    return json_response(SignedUp(user), 201)


@operation(
    "POST",
    "/api/auth/login",
    "logIn",
    tag="auth",
    body=LoginBody,
    answers={200: _TOKENS},
    errors=[ErrorCode.INVALID_CREDENTIALS, *_PROVIDER],
    public=True,
)
async def login(request: Request) -> Response:
    """Log in: access and refresh tokens."""
    body = await read_json(request, LoginBody)
    pair = await app_state(request)["identity"].login(body.email.strip(), body.password, client=client_address(request))
    return json_response(pair, headers={"Cache-Control": "no-store"})


@operation(
    "POST",
    "/api/auth/refresh",
    "refreshTokens",
    tag="auth",
    body=RefreshBody,
    answers={200: _TOKENS},
    errors=[ErrorCode.INVALID_REFRESH_TOKEN, *_PROVIDER],
    public=True,
)
async def refresh(request: Request) -> Response:
    """Trade a refresh token for new tokens.

    The old refresh token stops working; one used again outside the reuse interval ends its whole session.
    """
    body = await read_json(request, RefreshBody)
    try:
        pair = await app_state(request)["identity"].refresh(body.refresh_token, client=client_address(request))
    except RefreshTokenReused as exc:
        await end_sessions(request, exc.user_id, [exc.session_id])
        raise
    return json_response(pair, headers={"Cache-Control": "no-store"})


async def end_sessions(conn: HTTPConnection, user_id: UUID, session_ids: list[UUID]) -> None:
    """Close, on every node, the sockets of sessions that just ended (their tokens live at most one more TTL)."""
    state = app_state(conn)
    expires_at = int(time.time()) + state["settings"].access_token_ttl
    for session_id in session_ids:
        await state["hub"].end_session(user_id, session_id, expires_at)


@operation("POST", "/api/auth/logout", "logOut", tag="auth", answers={204: None}, errors=[ErrorCode.AUTH_UNAVAILABLE])
async def logout(request: Request) -> Response:
    """End this session: its tokens stop working and its sockets close with 4003."""
    principal = await require_principal(request)
    state = app_state(request)
    await state["identity"].logout(principal)
    if principal.session_id is not None:
        await state["hub"].end_session(principal.user_id, principal.session_id, principal.expires_at)
    return Response(status_code=204)


@operation("GET", "/api/auth/me", "getMe", tag="auth", answers={200: Me}, errors=[ErrorCode.AUTH_UNAVAILABLE])
async def me(request: Request) -> Response:
    """The caller."""
    principal = await require_principal(request)
    user = await app_state(request)["identity"].get_user(principal)
    return json_response(Me(user, principal.session_id, principal.expires_at))


routes = routes_of(signup, login, refresh, logout, me)
