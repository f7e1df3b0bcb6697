"""``/healthz`` (the process answers) and ``/readyz`` (the database answers and is migrated)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import NotReady
from ..state import app_state
from ..store.database import readiness
from .responses import json_response


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    problem = await readiness(app_state(request)["pool"])
    if problem is not None:
        raise NotReady(problem)
    return json_response({"status": "ready"})


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
