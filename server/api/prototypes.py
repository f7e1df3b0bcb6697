"""``/api/prototypes`` and ``/api/prototype/{prototype_id}``: describe a prototype, show the caller's state, run
an action."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..prototypes.base import ActionError, Context, Prototype, convert
from ..prototypes.registry import PROTOTYPES
from ..sensay.errors import SensayError
from ..sensay.local import ADA_LOVELACE_UUID as LOCAL_DEFAULT_REPLICA
from ..store import interactions
from ..store.errors import InsufficientFunds
from .guard import require_principal
from .parsing import read_json
from .problems import Problem
from .responses import json_response

RECENT_INTERACTIONS = 20


class ActionRequest(msgspec.Struct, forbid_unknown_fields=True):
    action: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    params: dict[str, Any] = {}


def _context(request: Request) -> Context:
    settings = request.state.settings
    default = settings.sensay_replica_id or (LOCAL_DEFAULT_REPLICA if settings.local_replica else None)
    return Context(
        pool=request.state.pool, hub=request.state.hub, sensay=request.state.sensay, default_replica_id=default
    )


def _prototype(request: Request) -> Prototype:
    prototype = PROTOTYPES.get(request.path_params["prototype_id"])
    if prototype is None:
        raise Problem(404, "prototype_not_found", f"no prototype {request.path_params['prototype_id']!r}")
    return prototype


async def list_prototypes(request: Request) -> Response:
    await require_principal(request)
    listed = [
        {"id": p.id, "name": p.name, "summary": p.summary, "actions": list(p.actions)} for p in PROTOTYPES.values()
    ]
    return json_response({"prototypes": listed})


async def show_prototype(request: Request) -> Response:
    """The prototype's description, the caller's state in it, and the caller's latest interactions with it."""
    principal = await require_principal(request)
    prototype = _prototype(request)
    state = await prototype.state(_context(request), principal.user_id)
    recent = await interactions.list_recent(request.state.pool, principal.user_id, prototype.id, RECENT_INTERACTIONS)
    return json_response(
        {"id": prototype.id, "description": prototype.description, "state": state, "interactions": recent}
    )


async def run_action(request: Request) -> Response:
    principal = await require_principal(request)
    prototype = _prototype(request)
    body = await read_json(request, ActionRequest)
    action = prototype.actions.get(body.action)
    if action is None:
        known = ", ".join(prototype.actions) or "none"
        raise Problem(422, "unknown_action", f"{prototype.id} has no action {body.action!r} (actions: {known})")
    try:
        params = convert(body.params, action.body, "params")
        outcome = await action.handler(_context(request), principal.user_id, params)
    except ActionError as exc:
        raise Problem(exc.status, exc.code, exc.detail) from None
    except InsufficientFunds as exc:
        raise Problem(409, "insufficient_funds", str(exc)) from None
    except SensayError as exc:
        raise Problem(503 if exc.retryable else 502, "replica_unavailable", "the replica service failed") from None
    return json_response({"action": body.action, "result": outcome.result, "interaction_id": outcome.interaction.id})


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
            502: "the replica service refused",
            503: "the replica service failed",
            **_AUTH,
        },
    ),
]
