"""``/api/prototypes`` and ``/api/prototype/{prototype_id}``: describe a prototype, show the caller's state, run
an action."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..state import app_state
from .guard import require_principal
from .parsing import read_json
from .responses import json_response


class ActionRequest(msgspec.Struct, forbid_unknown_fields=True):
    action: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    params: dict[str, Any] = {}


async def list_prototypes(request: Request) -> Response:
    await require_principal(request)
    listed = [
        {"id": p.id, "name": p.name, "summary": p.summary, "actions": list(p.actions)}
        for p in app_state(request)["prototypes"].all()
    ]
    return json_response({"prototypes": listed})


async def show_prototype(request: Request) -> Response:
    """The prototype's description, the caller's state in it, and the caller's latest interactions with it."""
    principal = await require_principal(request)
    view = await app_state(request)["prototypes"].view(principal.user_id, request.path_params["prototype_id"])
    prototype = view.prototype
    return json_response(
        {
            "id": prototype.id,
            "description": prototype.description,
            "state": view.state,
            "interactions": view.interactions,
        }
    )


async def run_action(request: Request) -> Response:
    principal = await require_principal(request)
    body = await read_json(request, ActionRequest)
    prototypes = app_state(request)["prototypes"]
    done = await prototypes.act(principal.user_id, request.path_params["prototype_id"], body.action, body.params)
    return json_response({"action": body.action, "result": done.result, "interaction_id": done.interaction_id})


routes = [
    Route("/api/prototypes", list_prototypes, methods=["GET"]),
    Route("/api/prototype/{prototype_id}", show_prototype, methods=["GET"]),
    Route("/api/prototype/{prototype_id}/actions", run_action, methods=["POST"]),
]

_AUTH = {401: "missing, invalid or revoked token"}
OPERATIONS: list[tuple[str, str, str, type | None, dict[int, str]]] = [
    ("get", "/api/prototypes", "The seven prototypes", None, {200: "id, name, summary, actions", **_AUTH}),
    (
        "get",
        "/api/prototype/{prototype_id}",
        "A prototype: its description (actions with params schemas), the caller's state and latest interactions",
        None,
        {200: "id, description, state, interactions", 404: "no such prototype", **_AUTH},
    ),
    (
        "post",
        "/api/prototype/{prototype_id}/actions",
        "Run an action of a prototype; it is recorded in prototype_interactions (and fed to the caller's sockets)",
        ActionRequest,
        {
            200: "action, result, interaction_id",
            404: "no such prototype, or an unknown id in the params",
            409: "the action conflicts with the current state (e.g. insufficient_funds)",
            502: "the replica service refused (replica_rejected)",
            503: "the replica service failed (replica_unavailable)",
            **_AUTH,
        },
    ),
]
