"""Bearer-token authentication for REST handlers."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from protocol import ErrorCode

from ..auth.tokens import Principal
from ..state import app_state
from .problems import Problem


def bearer_token(conn: HTTPConnection) -> str | None:
    scheme, _, token = conn.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def require_principal(conn: HTTPConnection) -> Principal:
    """The verified caller; a missing token is a 401 problem, a bad one an ``AuthError`` (401 from the table)."""
    token = bearer_token(conn)
    if token is None:
        raise Problem(ErrorCode.UNAUTHORIZED, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    return await app_state(conn)["identity"].authenticate(token)
