"""Bearer-token authentication for REST handlers."""

from __future__ import annotations

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
