"""Bearer-token authentication for REST handlers, and the service key of the operators' routes."""

from __future__ import annotations

import secrets

from starlette.requests import HTTPConnection

from ..auth.errors import AuthError, AuthUnavailable
from ..auth.tokens import Principal
from .problems import Problem


def bearer_token(conn: HTTPConnection) -> str | None:
    scheme, _, token = conn.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def require_principal(conn: HTTPConnection) -> Principal:
    """The verified caller, or a 401 problem."""
    token = bearer_token(conn)
    if token is None:
        raise Problem(401, "unauthorized", "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    try:
        return await conn.state.identity.authenticate(token)
    except AuthUnavailable:
        raise Problem(503, "auth_unavailable", "the identity provider did not answer; try again later") from None
    except AuthError as exc:
        raise Problem(
            401, "unauthorized", str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from None


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def require_service_key(conn: HTTPConnection, *, loopback_ok: bool = False) -> None:
    """Let through the holder of the service key (and, with ``loopback_ok``, any client on this machine)."""
    if loopback_ok and conn.client is not None and conn.client.host in LOOPBACK:
        return
    key = conn.state.settings.server_api_key
    token = bearer_token(conn)
    if key is None or token is None or not secrets.compare_digest(token.encode(), key.reveal().encode()):
        raise Problem(401, "unauthorized", "this route needs the service key", headers={"WWW-Authenticate": "Bearer"})
