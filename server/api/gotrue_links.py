"""GoTrue's key-free routes, answered as GoTrue answers them: ``/authorize``, ``/callback`` and ``/verify``.

Browsers reach these by following a link or a redirect, so Supabase's gateway lets them through without an
``apikey`` (and the hub does too). The hub's local auth has no OAuth provider and sends no email links, so each
answers GoTrue's error for that case: as JSON, or, when the request names a ``redirect_to`` the hub may send
browsers to (an origin in ``ALLOWED_ORIGINS``, or this host), as GoTrue's redirect carrying ``error``,
``error_code`` and ``error_description`` in the query and the fragment, which supabase-js reads back as an error.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..state import app_state
from .gotrue import _OAUTH_PROVIDERS
from .gotrue_wire import MAX_BODY_BYTES, GoTrueError, body_of, endpoint, error_response, gotrue_operation
from .operation import Answer, routes_of
from .parsing import read_body

_REDIRECT: Final = Answer(
    None,
    "To `redirect_to` (when this hub may send browsers there), with GoTrue's `error`, `error_code` and "
    "`error_description` in the query and the fragment.",
    {"Location": "`redirect_to` with the error."},
)
_OAUTH_ERRORS: Final = {
    400: "invalid_request",
    401: "unauthorized_client",
    403: "access_denied",
    404: "invalid_request",
}
"""The OAuth ``error`` GoTrue puts beside its own code, by status."""


class AuthorizeQuery(msgspec.Struct):
    provider: str = ""
    redirect_to: str = ""
    scopes: str = ""


class CallbackQuery(msgspec.Struct):
    state: str = ""
    code: str = ""
    error: str = ""
    error_description: str = ""


class VerifyQuery(msgspec.Struct):
    token: str = ""
    token_hash: str = ""
    type: str = ""
    redirect_to: str = ""


class VerifyBody(msgspec.Struct):
    type: str = ""
    token: str = ""
    token_hash: str = ""
    email: str = ""
    phone: str = ""
    redirect_to: str = ""


def _may_redirect_to(request: Request, target: str) -> bool:
    """Whether ``target`` is a place this hub sends browsers: an allowed origin (never by ``*``), or itself."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    allowed = app_state(request)["settings"].allowed_origins
    return f"{parts.scheme}://{parts.netloc}" in allowed or parts.netloc == request.headers.get("host")


def _answer(request: Request, error: GoTrueError, redirect_to: str) -> Response:
    """GoTrue's error as a redirect to ``redirect_to`` when the hub may send the browser there, else as JSON."""
    if not redirect_to or not _may_redirect_to(request, redirect_to):
        return error_response(request, error)
    fields = {
        "error": _OAUTH_ERRORS.get(error.status, "server_error"),
        "error_code": error.error_code,
        "error_description": error.message,
    }
    parts = urlsplit(redirect_to)
    query = "&".join(filter(None, [parts.query, urlencode(fields)]))
    return RedirectResponse(urlunsplit(parts._replace(query=query, fragment=urlencode(fields))), 302)


_PUBLIC: dict[str, Any] = {"apikey": False}


@gotrue_operation(
    "GET",
    "/authorize",
    "gotrueAuthorize",
    {302: _REDIRECT},
    {400: "`validation_failed` (the provider is not enabled, or unknown)"},
    query=AuthorizeQuery,
    **_PUBLIC,
)
@endpoint(apikey=False)
async def authorize(request: Request) -> Response:
    """Start an OAuth sign-in: the hub's local auth enables no provider, so GoTrue's "not enabled" error."""
    provider = request.query_params.get("provider", "").lower()
    if provider in _OAUTH_PROVIDERS:
        message = "Unsupported provider: provider is not enabled"
    else:
        message = f"Unsupported provider: Provider {provider} could not be found"
    error = GoTrueError(400, "validation_failed", message)
    return _answer(request, error, request.query_params.get("redirect_to", ""))


async def _callback(request: Request) -> Response:
    """An OAuth provider's callback: no sign-in ever starts here, so no state is ever valid."""
    state = request.query_params.get("state", "")
    if request.method == "POST":  # a provider's form_post: the state is in the form
        raw = await read_body(request, MAX_BODY_BYTES)
        state = state or parse_qs((raw or b"").decode("latin-1")).get("state", [""])[0]
    if not state:
        raise GoTrueError(400, "bad_oauth_callback", "OAuth state parameter missing")
    raise GoTrueError(400, "bad_oauth_state", "OAuth callback with invalid state")


_CALLBACK_FAILS: Final = {400: "`bad_oauth_callback` (no `state`), `bad_oauth_state` (a state this hub never issued)"}
callback_get = gotrue_operation(
    "GET", "/callback", "gotrueCallback", {}, _CALLBACK_FAILS, query=CallbackQuery, **_PUBLIC
)(endpoint(apikey=False)(_callback))
callback_post = gotrue_operation("POST", "/callback", "gotrueCallbackPost", {}, _CALLBACK_FAILS, **_PUBLIC)(
    endpoint(apikey=False)(_callback)
)


@gotrue_operation(
    "GET",
    "/verify",
    "gotrueVerifyLink",
    {302: _REDIRECT},
    {
        400: "`validation_failed` (no `type`, or no `token`)",
        403: "`otp_expired`: the hub's local auth sends no links, so none is valid",
    },
    query=VerifyQuery,
    **_PUBLIC,
)
@endpoint(apikey=False)
async def verify_link(request: Request) -> Response:
    """An email link (sign-up confirmation, magic link, recovery, invite): never one of this hub's."""
    query = request.query_params
    if not query.get("type"):
        raise GoTrueError(400, "validation_failed", "Verify requires a verification type")
    if not query.get("token") and not query.get("token_hash"):
        raise GoTrueError(400, "validation_failed", "Verify requires a token or a token hash")
    error = GoTrueError(403, "otp_expired", "Email link is invalid or has expired")
    return _answer(request, error, query.get("redirect_to", ""))


@gotrue_operation(
    "POST",
    "/verify",
    "gotrueVerify",
    {},
    {
        400: "`validation_failed` (no `type`, or no token), `bad_json`",
        403: "`otp_expired`: the hub's local auth sends no codes, so none is valid",
        413: "`request_entity_too_large`",
    },
    body=VerifyBody,
    **_PUBLIC,
)
@endpoint(apikey=False)
async def verify(request: Request) -> Response:
    """A one-time code or token hash: never one of this hub's."""
    body = await body_of(request, VerifyBody)
    if not body.type:
        raise GoTrueError(400, "validation_failed", "Verify requires a verification type")
    if not body.token and not body.token_hash:
        raise GoTrueError(400, "validation_failed", "Verify requires a token or a token hash")
    raise GoTrueError(403, "otp_expired", "Token has expired or is invalid")


routes = routes_of(authorize, callback_get, callback_post, verify_link, verify)
