"""RFC 9457 problem documents: every error the REST API returns has this shape and a stable ``code``.

Domain errors raised by the services are answered from the one error table (``server.errors``); the few
errors of HTTP itself (a body that is not JSON, too large, a wrong method) are :class:`Problem`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Annotated, Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from protocol import ErrorCode

from ..errors import CredentialsMissing, DomainError, error_code, retry_after_header
from ..outages import OUTAGE_RETRY_AFTER, outage
from .methods import allowed_methods

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
_HTTP_CODES = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}


class ProblemDocument(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem document; some carry more fields (a failed reply's stored `message`)."""

    type: Annotated[str, msgspec.Meta(description="`/problems/<code>`.")]
    title: Annotated[str, msgspec.Meta(description="The HTTP status's reason phrase.")]
    status: int
    detail: Annotated[str, msgspec.Meta(description="What went wrong, for humans; not meant to be parsed.")]
    code: ErrorCode
    instance: Annotated[str | None, msgspec.Meta(description="The request's path.")] = None


class Problem(Exception):
    """Raise to answer with a problem document. ``code`` is stable; ``detail`` is for humans."""

    def __init__(
        self,
        code: ErrorCode,
        detail: str,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        http_status = status if status is not None else code.http_status
        assert http_status is not None, f"{code} never answers over REST"
        self.status = http_status
        self.code = code
        self.detail = detail
        self.headers = headers
        self.extra = extra


def problem_of(error: DomainError, headers: Mapping[str, str] | None = None) -> Problem:
    """The problem document of a domain error: its code (and status) from the error table."""
    return Problem(error_code(error), error.detail, headers=headers, **error.extra)


def problem_response(problem: Problem, instance: str | None = None) -> Response:
    body: dict[str, Any] = {
        "type": f"/problems/{problem.code}",
        "title": _title(problem.status),
        "status": problem.status,
        "detail": problem.detail,
        "code": problem.code.value,
        **problem.extra,
    }
    if instance:
        body["instance"] = instance
    return Response(msgspec.json.encode(body), problem.status, headers=problem.headers, media_type=PROBLEM_MEDIA_TYPE)


def _title(status: int) -> str:
    """The status's reason phrase, as Python's ``http`` module names it."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(exc, request.url.path)


async def handle_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    code = error_code(exc)
    if code is ErrorCode.INTERNAL_ERROR:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    headers: dict[str, str] = {}
    if code is ErrorCode.UNAUTHORIZED:  # RFC 6750 §3.1: no error code when no credentials were given
        missing = isinstance(exc, CredentialsMissing)
        headers["WWW-Authenticate"] = "Bearer" if missing else 'Bearer error="invalid_token"'
    if exc.retry_after is not None:
        headers["Retry-After"] = retry_after_header(exc.retry_after)
    return problem_response(problem_of(exc, headers or None), request.url.path)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, ErrorCode.HTTP_ERROR)
    headers = exc.headers
    if exc.status_code == 405:  # Starlette names the methods of one route; the path may have several
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request.scope, request.app.routes))}
    problem = Problem(code, str(exc.detail), status=exc.status_code, headers=headers)
    return problem_response(problem, request.url.path)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """A database outage is 503 ``not_ready`` with ``Retry-After``; anything else 500 (logged with its traceback
    by the request middleware). The client sees no internals either way."""
    down = outage(exc)
    if down is not None:
        return problem_response(
            problem_of(down, {"Retry-After": retry_after_header(OUTAGE_RETRY_AFTER)}), request.url.path
        )
    return problem_response(Problem(ErrorCode.INTERNAL_ERROR, "an unexpected error occurred"), request.url.path)


exception_handlers = {
    Problem: handle_problem,
    DomainError: handle_domain_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
