"""``/healthz`` (the process answers) and ``/readyz`` (the database answers and is migrated)."""

from __future__ import annotations

from typing import Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from protocol import ErrorCode

from ..errors import NotReady
from ..state import app_state, not_ready
from .operation import operation, routes_of
from .responses import json_response


class Health(msgspec.Struct):
    """The process answers."""

    status: Literal["ok"] = "ok"


class Readiness(msgspec.Struct):
    """The database answers and is migrated."""

    status: Literal["ready"] = "ready"


@operation("GET", "/healthz", "getHealth", tag="meta", answers={200: Health}, public=True, database=False)
async def healthz(request: Request) -> Response:
    """The process is alive."""
    return json_response(Health())


@operation(
    "GET", "/readyz", "getReadiness", tag="meta", answers={200: Readiness}, errors=[ErrorCode.NOT_READY], public=True
)
async def readyz(request: Request) -> Response:
    """The database answers and is migrated (else 503 `not_ready`)."""
    problem = await not_ready(app_state(request))
    if problem is not None:
        raise NotReady(problem)
    return json_response(Readiness())


routes = routes_of(healthz, readyz)
