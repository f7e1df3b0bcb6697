"""``/api/auth``: sign-up, login, refresh, logout, me."""

from __future__ import annotations

import time
from typing import Annotated
from uuid import UUID

import msgspec
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import RefreshTokenReused
from ..state import app_state
from .guard import require_principal
from .parsing import read_json
from .responses import json_response

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
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


def client_address(conn: HTTPConnection) -> str:
    """The caller's address (uvicorn has already applied a trusted proxy's ``X-Forwarded-For``)."""
    return conn.client.host if conn.client is not None else ""


async def signup(request: Request) -> Response:
    body = await read_json(request, Credentials)
    user = await app_state(request)["identity"].signup(
        body.email.strip(), body.password, client=client_address(request)
    )
    return json_response({"user": user}, 201)


async def login(request: Request) -> Response:
    body = await read_json(request, LoginBody)
    pair = await app_state(request)["identity"].login(body.email.strip(), body.password, client=client_address(request))
    return json_response(pair, headers={"Cache-Control": "no-store"})


async def refresh(request: Request) -> Response:
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


async def logout(request: Request) -> Response:
    principal = await require_principal(request)
    state = app_state(request)
    await state["identity"].logout(principal)
    if principal.session_id is not None:
        await state["hub"].end_session(principal.user_id, principal.session_id, principal.expires_at)
    return Response(status_code=204)


async def me(request: Request) -> Response:
    principal = await require_principal(request)
    user = await app_state(request)["identity"].get_user(principal)
    return json_response({"user": user, "session_id": principal.session_id, "expires_at": principal.expires_at})


routes = [
    Route("/api/auth/signup", signup, methods=["POST"]),
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/auth/refresh", refresh, methods=["POST"]),
    Route("/api/auth/logout", logout, methods=["POST"]),
    Route("/api/auth/me", me, methods=["GET"]),
]
