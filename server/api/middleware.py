"""Pure ASGI middleware around the whole HTTP app: a request id for every request, and HTTP metrics.

Both sit outside Starlette's error middleware, so a 500 carries its request id and is counted too.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from protocol import NUL_MESSAGE, ErrorCode

from .. import logs, metrics
from ..outages import outage
from . import gotrue_wire
from .problems import Problem, problem_response

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
UNMATCHED = "unmatched"
GOTRUE_PREFIX = "/auth/v1/"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def request_id_of(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` when it is a sane token, else a new one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = bytes(value).decode("latin-1")
            if _VALID_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestContext:
    """Sets the request id for the request's log lines and echoes it in ``X-Request-ID``.

    An error raised after the response was sent (Starlette re-raises the one it answered with 500) is
    logged here, with the request id, and not passed on: the client has its answer and keeps its connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_of(scope)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = rid
            await send(message)

        with logs.bound(request_id=rid):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                if not started:
                    raise
                if outage(exc) is not None:  # answered 503; one line, not a traceback per request
                    logger.warning("%s %s: database unavailable (%r)", scope["method"], scope["path"], exc)
                else:
                    logger.exception("%s %s failed", scope["method"], scope["path"])


class RefuseNul:
    """Answers 422 to a path or query string holding ``%00``: no route could store it (PostgreSQL text cannot)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (b"%00" in scope["query_string"] or "\x00" in scope["path"]):
            if scope["path"].startswith(GOTRUE_PREFIX):  # GoTrue's routes answer in GoTrue's shape
                await gotrue_wire.nul_refusal(Request(scope))(scope, receive, send)
                return
            problem = Problem(ErrorCode.VALIDATION_ERROR, f"the URL holds %00: {NUL_MESSAGE}")
            await problem_response(problem, None)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class HttpMetrics:
    """Counts requests by method, route template and status, and times them."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            route = self.template(scope)
            method = scope["method"] if scope["method"] in _METHODS else "other"  # any token is a method to h11
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            metrics.HTTP_DURATION.labels(method, route).observe(time.perf_counter() - start)

    def template(self, scope: Scope) -> str:
        """The path template of the route that took the request (``/api/tasks/{task_id}``), never the raw path."""
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return str(getattr(route, "path", UNMATCHED))
        return UNMATCHED
