"""``/healthz`` (the process answers) and ``/readyz`` (the database answers and is migrated)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..store.database import readiness
from .problems import Problem
from .responses import json_response


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    problem = await readiness(request.state.pool)
    if problem is not None:
        raise Problem(503, "not_ready", problem)
    return json_response({"status": "ready"})


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
