"""``/rest/v1/{table}``: PostgREST's wire format, so supabase-js's database API works against the zero-config hub.

As on Supabase, the gateway wants the project's ``apikey``; the ``Authorization`` bearer says who is asking (the anon
key itself, or none, is ``anon``; a user's access token is that user, ``authenticated``). The request then runs in
the database as that role with the token's claims, and the row-level-security policies decide what it sees and
changes. Served only with the local auth backend: with ``SUPABASE_URL`` the front end talks to Supabase itself.

Not in ``/openapi.json``: the wire format is PostgREST's (its documentation describes it), its rows are the tables'
columns, and one status answers an array or a single object depending on ``Accept``.
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ... import metrics
from ...auth.local import LocalIdentity
from ...errors import AuthError
from ...ratelimit import parsed_rate
from ...state import app_state
from ...tables import STAR, Delete, Insert, Outcome, Read, Refusal, Update
from ..guard import bearer_token
from ..parsing import read_body
from ..responses import json_response
from .answers import refusal_response
from .query import SINGLE_OBJECT, Prefer, Query, parse_prefer, parse_query, parse_range, parse_rows, parse_values
from .query import wants_single as _wants_single

MAX_BODY_BYTES = 1024 * 1024
MAX_ROWS = 1000
"""Rows a read answers at most, whatever its limit or range (Supabase's default ``db-max-rows``)."""
_JSON = "application/json; charset=utf-8"
_OBJECT = f"{SINGLE_OBJECT}; charset=utf-8"


class _Gateway(Exception):
    """The API gateway's refusal (no ``apikey``, or a wrong one): ``{message, hint}``, 401."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


async def _claims(request: Request) -> dict[str, Any]:
    """The caller's JWT claims as the database will see them (``request.jwt.claims``)."""
    identity = app_state(request)["identity"]
    assert isinstance(identity, LocalIdentity), "/rest/v1 is mounted only with the local backend"
    given = request.headers.get("apikey") or request.query_params.get("apikey")
    if not given:
        raise _Gateway("No API key found in request", "No `apikey` request header or url param was found.")
    if not hmac.compare_digest(given.encode(), identity.anon_key.encode()):
        raise _Gateway("Invalid API key", "Double check your Supabase `anon` or `service_role` API key.")
    token = bearer_token(request)
    if token is None or hmac.compare_digest(token.encode(), identity.anon_key.encode()):
        return {"role": "anon"}
    try:
        principal = await identity.authenticate(token)
    except AuthError as exc:
        expired = "expired" in str(exc).lower()
        raise Refusal("PGRST303" if expired else "PGRST301", "JWT expired" if expired else str(exc)) from None
    return {
        "sub": str(principal.user_id),
        "role": principal.role,
        "aud": "authenticated",
        "email": principal.email,
        "session_id": str(principal.session_id) if principal.session_id else None,
        "exp": principal.expires_at,
    }


async def _count_write(request: Request, user_id: str) -> None:
    """A signed-in user's writes count against ``REST_WRITE_RATE``, as on ``/api``."""
    state = app_state(request)
    rate = parsed_rate(state["settings"].rest_write_rate)
    retry_after = await state["limiter"].hit(rate, "rest-writes", user_id)
    if retry_after is not None:
        metrics.RATE_LIMITED.labels("rest_writes").inc()
        raise _Limited(int(retry_after))


class _Limited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("too many writes")
        self.retry_after = retry_after


def _content_range(lower: int, upper: int, total: int | None) -> str:
    """PostgREST's ``Content-Range``: ``first-last/total``, ``*`` for an empty range or an unknown total."""
    shown = f"{lower}-{upper}" if total != 0 and lower <= upper else "*"
    return f"{shown}/{'*' if total is None else total}"


def _page(query: Query, header: str | None) -> tuple[int, int | None]:
    """Offset and limit from ``limit``/``offset`` and the ``Range`` header, intersected as PostgREST does."""
    offset, limit = query.offset, query.limit
    ranged = parse_range(header)
    if ranged is None:
        return offset, limit
    first, size = ranged
    lower = max(first, offset)
    uppers = [] if size is None else [first + size - 1]
    if limit is not None:
        uppers.append(offset + limit - 1)
    return lower, (max(0, min(uppers) - lower + 1) if uppers else None)


def _body(outcome: Outcome, single: bool, status: int, headers: dict[str, str], head: bool = False) -> Response:
    content = b"" if head else outcome.body.encode()
    return Response(content, status, headers=headers, media_type=_OBJECT if single else _JSON)


async def _read(request: Request, table: str, claims: dict[str, Any], query: Query, single: bool) -> Response:
    offset, limit = _page(query, request.headers.get("range"))
    limit = MAX_ROWS if limit is None else min(limit, MAX_ROWS)
    prefer = parse_prefer(request.headers.getlist("prefer"))
    counted = prefer.count is not None
    ask = Read(table, query.select or STAR, tuple(query.where), query.order, limit, offset, counted, single)
    outcome = await app_state(request)["tables"].answer(claims, ask)
    upper = offset + outcome.rows - 1
    headers = {"Content-Range": _content_range(offset, upper, outcome.total)}
    applied = prefer.applied(mutation=False, insert=False)
    if applied:
        headers["Preference-Applied"] = applied
    status = 200
    if outcome.total is not None:
        if offset > outcome.total:
            raise Refusal(
                "PGRST103",
                "Requested range not satisfiable",
                f"An offset of {offset} was requested, but there are only {outcome.total} rows.",
            )
        if upper - offset + 1 < outcome.total:
            status = 206
    return _body(outcome, single, status, headers, head=request.method == "HEAD")


def _returning(query: Query, prefer: Prefer) -> tuple[Any, ...] | None:
    return (query.select or STAR) if prefer.representation else None


async def _write(request: Request, table: str, claims: dict[str, Any], query: Query, single: bool) -> Response:
    if "sub" in claims:
        await _count_write(request, claims["sub"])
    prefer = parse_prefer(request.headers.getlist("prefer"))
    returning = _returning(query, prefer)
    count = prefer.count is not None
    method = request.method
    if query.limit is not None or query.offset or query.order:
        raise Refusal("PGRST127", "Feature not implemented", "limit, offset and order on writes are not served")
    raw = b""
    if method in ("POST", "PATCH"):
        body = await read_body(request, MAX_BODY_BYTES)
        if body is None:
            raise Refusal("PGRST102", f"Request body too large (at most {MAX_BODY_BYTES} bytes)")
        raw = body
    tables = app_state(request)["tables"]
    headers: dict[str, str] = {}
    if method == "POST":
        rows, columns = parse_rows(raw, query.columns)
        if query.where:
            raise Refusal("PGRST100", "Filters are not allowed on an insert", "Use PATCH to change rows")
        ask: Insert | Update | Delete = Insert(
            table, rows, columns, query.on_conflict, prefer.resolution, returning, count, single
        )
        outcome = await tables.answer(claims, ask)
        headers["Content-Range"] = _content_range(1, 0, outcome.rows if count else None)
        status = 200 if prefer.resolution == "merge-duplicates" and not outcome.inserted else 201
    else:
        if not query.where:  # Supabase loads pg-safeupdate for its API: no accidental change of every row
            raise Refusal("21000", f"{'UPDATE' if method == 'PATCH' else 'DELETE'} requires a WHERE clause")
        if method == "PATCH":
            values = parse_values(raw)
            ask = Update(table, values, tuple(query.where), returning, count, single)
            if not values:  # nothing to set: nothing changes (PostgREST answers the same)
                outcome = Outcome("[]", 0, None, 0)
            else:
                outcome = await tables.answer(claims, ask)
            headers["Content-Range"] = _content_range(0, outcome.rows - 1, outcome.rows if count else None)
        else:
            ask = Delete(table, tuple(query.where), returning, count, single)
            outcome = await tables.answer(claims, ask)
            headers["Content-Range"] = _content_range(1, 0, outcome.rows if count else None)
        status = 200
    applied = prefer.applied(mutation=True, insert=method == "POST")
    if applied:
        headers["Preference-Applied"] = applied
    if returning is None:
        return Response(b"", status if method == "POST" else 204, headers=headers)
    return _body(outcome, single, status, headers)


async def table_endpoint(request: Request) -> Response:
    """Every method on ``/rest/v1/{table}``: read with GET/HEAD, insert/upsert with POST, PATCH, DELETE."""
    table = request.path_params["table"]
    signed_in = False
    try:
        claims = await _claims(request)
        signed_in = "sub" in claims
        for header in ("accept-profile", "content-profile"):  # supabase-js's `db: { schema }`
            schema = request.headers.get(header, "public")
            if schema != "public":
                hint = "Only the following schemas are exposed: public"
                raise Refusal("PGRST106", f"Invalid schema: {schema}", None, hint)
        query = parse_query(request.query_params.multi_items(), table)
        single = _wants_single(request.headers.get("accept"))
        if request.method in ("GET", "HEAD"):
            return await _read(request, table, claims, query, single)
        return await _write(request, table, claims, query, single)
    except _Gateway as refusal:
        return json_response({"message": str(refusal), "hint": refusal.hint}, 401)
    except _Limited as limited:
        return json_response(
            {"code": "429", "message": "too many writes; try again later", "details": None, "hint": None},
            429,
            headers={"Retry-After": str(limited.retry_after)},
        )
    except Refusal as refusal:
        return refusal_response(refusal, signed_in=signed_in)


async def unsupported(request: Request) -> Response:
    """PUT and the root (PostgREST's OpenAPI output) are not served: PostgREST's 405/404 body."""
    if request.method == "PUT":
        refusal = Refusal("PGRST117", f"Unsupported HTTP method: {request.method}")
    else:
        refusal = Refusal("PGRST125", "Invalid path specified in request URL")
    return refusal_response(refusal, signed_in=False)


_ALL = ["GET", "HEAD", "POST", "PATCH", "DELETE", "PUT"]
routes = [  # not in /openapi.json (the module's docstring says why)
    Route("/rest/v1/{table}", table_endpoint, methods=_ALL[:-1], include_in_schema=False),
    Route("/rest/v1/{table}", unsupported, methods=["PUT"], include_in_schema=False),
    Route("/rest/v1/{rest:path}", unsupported, methods=_ALL, include_in_schema=False),
]
