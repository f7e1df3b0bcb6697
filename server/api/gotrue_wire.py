"""How ``/auth/v1`` receives a request and answers it as GoTrue does: the ``apikey`` gateway, GoTrue's error
bodies (both versions), bodies read and checked, the session answer, and how an operation is declared."""

from __future__ import annotations

import functools
import hmac
import re
from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from protocol import NUL_MESSAGE, has_nul

from ..auth.errors import (
    AuthError,
    RateLimited,
    SessionRevoked,
    WeakPassword,
)
from ..auth.identity import TokenPair
from ..auth.local import LocalIdentity
from ..auth.tokens import Principal
from ..errors import retry_after_header
from .gotrue_shapes import (
    GOTRUE_ERRORS,
    GatewayRefusal,
    GoTrueErrorBody,
    GoTrueLegacyErrorBody,
    GoTrueSession,
    WeakPasswordReasons,
    gotrue_user,
)
from .guard import bearer_token
from .operation import RETRY_AFTER, Answer, Endpoint, Method, operation
from .parsing import read_body
from .responses import json_response

API_VERSION_HEADER = "X-Supabase-Api-Version"
API_VERSION = "2024-01-01"
MAX_BODY_BYTES = 64 * 1024
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Handler = Callable[[Request], Awaitable[Response]]


class GoTrueError(Exception):
    """An error answered in GoTrue's shape."""

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        weak_password: WeakPasswordReasons | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = headers or {}
        self.weak_password = weak_password


def error_response(request: Request, error: GoTrueError) -> Response:
    headers = {"x-sb-error-code": error.error_code, **error.headers}
    asked = request.headers.get(API_VERSION_HEADER, "")
    if DATE.match(asked) and asked >= API_VERSION:  # ISO dates compare as strings; anything else is the oldest
        headers[API_VERSION_HEADER] = API_VERSION
        body: GoTrueErrorBody | GoTrueLegacyErrorBody = GoTrueErrorBody(
            error.error_code, error.message, error.weak_password
        )
    else:
        body = GoTrueLegacyErrorBody(error.status, error.error_code, error.message, error.weak_password)
    return json_response(body, error.status, headers=headers)


def nul_refusal(request: Request) -> Response:
    """GoTrue's answer to a path or query string holding NUL (which PostgreSQL cannot store)."""
    return error_response(request, GoTrueError(422, "validation_failed", f"Invalid request: {NUL_MESSAGE}"))


def gateway_refusal(message: str, hint: str) -> Response:
    # Supabase's API gateway answers this, not GoTrue: no error code, which is how clients tell the two apart.
    return json_response(GatewayRefusal(message, hint), 401)


def endpoint(*, apikey: bool = True) -> Callable[[Handler], Handler]:
    """Check the ``apikey`` (header or query, as the gateway takes it) and turn :class:`GoTrueError` into answers."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(request: Request) -> Response:
            if apikey:
                given = request.headers.get("apikey") or request.query_params.get("apikey")
                if not given:
                    return gateway_refusal(
                        "No API key found in request", "No `apikey` request header or url param was found."
                    )
                if not hmac.compare_digest(given.encode(), identity_of(request).anon_key.encode()):
                    return gateway_refusal(
                        "Invalid API key", "Double check your Supabase `anon` or `service_role` API key."
                    )
            try:
                return await handler(request)
            except GoTrueError as error:
                return error_response(request, error)
            except WeakPassword as exc:  # from sign-up or a new password
                reasons = WeakPasswordReasons(str(exc), exc.reasons)
                return error_response(request, GoTrueError(422, "weak_password", str(exc), weak_password=reasons))
            except RateLimited as exc:
                return error_response(
                    request,
                    GoTrueError(
                        429,
                        "over_request_rate_limit",
                        "Request rate limit reached",
                        headers={"Retry-After": retry_after_header(exc.retry_after)},
                    ),
                )

        return run

    return wrap


def identity_of(request: Request) -> LocalIdentity:
    identity = request.state.identity
    assert isinstance(identity, LocalIdentity), "/auth/v1 is mounted only with the local backend"
    return identity


async def body_of(request: Request, type_: type[Any], *, required: bool = False) -> Any:
    raw = await read_body(request, MAX_BODY_BYTES)
    if required and not raw:
        raise GoTrueError(400, "bad_json", "Could not parse request body as JSON: the body is empty")
    if raw is None:
        raise GoTrueError(413, "request_entity_too_large", f"Request body too large (max {MAX_BODY_BYTES} bytes)")
    if has_nul(raw):  # PostgreSQL text cannot hold it (GoTrue itself would fail in its database)
        raise GoTrueError(422, "validation_failed", f"Invalid request body: {NUL_MESSAGE}")
    try:
        return msgspec.json.decode(raw or b"{}", type=type_)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise GoTrueError(400, "bad_json", f"Could not parse request body as JSON: {exc}") from None


def valid_email(email: str) -> str:
    email = email.strip()
    if not email:
        raise GoTrueError(400, "validation_failed", "An email address is required")
    if len(email) > 255:
        raise GoTrueError(400, "validation_failed", "An email address is too long")
    if not EMAIL.match(email):
        raise GoTrueError(400, "validation_failed", "Unable to validate email address: invalid format")
    return email.lower()  # as GoTrue stores it


async def principal_of(request: Request) -> Principal:
    """The caller, with GoTrue's answers for a missing, bad or logged-out token."""
    token = bearer_token(request)
    if token is None:
        raise GoTrueError(401, "no_authorization", "This endpoint requires a valid Bearer token")
    try:
        return await identity_of(request).authenticate(token)
    except SessionRevoked:
        raise GoTrueError(403, "session_not_found", "Session from session_id claim in JWT does not exist") from None
    except AuthError as exc:
        raise GoTrueError(403, "bad_jwt", f"invalid JWT: unable to parse or verify signature, {exc}") from None


async def session_response(identity: LocalIdentity, pair: TokenPair) -> Response:
    profile = await identity.profile(pair.user.id)
    body = GoTrueSession(
        access_token=pair.access_token,
        token_type="bearer",
        expires_in=pair.expires_in,
        expires_at=pair.expires_at,
        refresh_token=pair.refresh_token,
        user=gotrue_user(profile),
    )
    return json_response(body, headers={"Cache-Control": "no-store"})


GATEWAY: Final = "`apikey` missing or wrong (the gateway's `{message, hint}`)"
BODY_FAILS: Final = {400: "`bad_json`", 413: "`request_entity_too_large`"}


def gotrue_operation(
    method: Method,
    path: str,
    operation_id: str,
    ok: dict[int, Any],
    fails: dict[int, str],
    *,
    apikey: bool = True,
    bearer: bool = False,
    body: Any = None,
    query: type[msgspec.Struct] | None = None,
) -> Callable[[Handler], Endpoint]:
    """Declare a ``/auth/v1`` operation: its errors are GoTrue's (``fails``: status → codes), not problem documents."""
    answers: dict[int, Any] = dict(ok)
    if (body is not None or query is not None or "{" in path) and "validation_failed" not in fails.get(422, ""):
        nul = "`validation_failed` (a string holding NUL)"
        fails = {**fails, 422: f"{fails[422]}, {nul}" if 422 in fails else nul}
    if apikey:
        fails = {**fails, 401: f"{fails[401]}; or {GATEWAY}" if 401 in fails else GATEWAY}
    for status, codes in fails.items():
        shapes: Any = GatewayRefusal if codes == GATEWAY else GOTRUE_ERRORS
        if apikey and status == 401 and codes != GATEWAY:
            shapes = (GatewayRefusal, *GOTRUE_ERRORS)
        answers[status] = Answer(shapes, codes, RETRY_AFTER if status == 429 else {})
    return operation(
        method,
        f"/auth/v1{path}",
        operation_id,
        tag="gotrue",
        answers=answers,
        body=body,
        query=query,
        problems=False,
        security=("apikey", "bearer") if bearer else ("apikey",) if apikey else (),
    )
