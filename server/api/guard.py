"""Bearer-token authentication for REST handlers, and the service key of the operators' routes."""

from __future__ import annotations

import secrets

from starlette.requests import HTTPConnection

from .. import metrics
from ..auth.tokens import Principal
from ..errors import CredentialsMissing, RateLimited
from ..ratelimit import parsed_rate
from ..state import app_state
from .proxies import was_forwarded


def bearer_token(conn: HTTPConnection) -> str | None:
    scheme, _, token = conn.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def require_principal(conn: HTTPConnection) -> Principal:
    """The verified caller; a missing or bad token is an ``AuthError`` (401 from the table).

    A write (POST, PUT, PATCH, DELETE) also counts against the user's REST write rate: 429 with ``Retry-After``
    beyond it, on whichever process (with Redis) the requests land.
    """
    token = bearer_token(conn)
    if token is None:
        raise CredentialsMissing("missing bearer token")
    state = app_state(conn)
    principal = await state["identity"].authenticate(token)
    if conn.scope.get("method", "GET") in WRITES:
        rate = parsed_rate(state["settings"].rest_write_rate)
        retry_after = await state["limiter"].hit(rate, "rest-writes", str(principal.user_id))
        if retry_after is not None:
            metrics.RATE_LIMITED.labels("rest_writes").inc()
            raise RateLimited("too many writes; try again later", retry_after)
    return principal


WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def require_service_key(conn: HTTPConnection, *, loopback_ok: bool = False) -> None:
    """Let through the holder of the service key (and, with ``loopback_ok``, any client on this machine).

    A request carrying ``Forwarded`` or ``X-Forwarded-For`` came through a proxy, whatever its address: a proxy on
    this machine must not open the route to everyone behind it.
    """
    if loopback_ok and conn.client is not None and conn.client.host in LOOPBACK and not was_forwarded(conn.scope):
        return
    key = app_state(conn)["settings"].server_api_key
    token = bearer_token(conn)
    if key is None or token is None or not secrets.compare_digest(token.encode(), key.reveal().encode()):
        raise CredentialsMissing("this route needs the service key")
