"""``/api/replicas``: the replicas the caller can chat with."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..sensay.errors import SensayError
from .guard import require_principal
from .problems import Problem
from .responses import json_response


async def list_replicas(request: Request) -> Response:
    principal = await require_principal(request)
    try:
        replicas = await request.state.sensay.list_replicas(str(principal.user_id))
    except SensayError as exc:
        raise Problem(503 if exc.retryable else 502, "replica_unavailable", "the replica service failed") from None
    default = request.state.settings.sensay_replica_id or (replicas[0].uuid if replicas else None)
    return json_response({"replicas": replicas, "default_replica_id": default})


routes = [Route("/api/replicas", list_replicas, methods=["GET"])]
