"""``/api/replicas``: the replicas the caller can chat with."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..state import app_state
from .guard import require_principal
from .responses import json_response


async def list_replicas(request: Request) -> Response:
    principal = await require_principal(request)
    directory = app_state(request)["replicas"]
    replicas = await directory.available(str(principal.user_id))
    default = await directory.default_replica_id(str(principal.user_id), replicas)
    return json_response({"replicas": replicas, "default_replica_id": default})


routes = [Route("/api/replicas", list_replicas, methods=["GET"])]
