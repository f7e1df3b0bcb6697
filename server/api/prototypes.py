"""``/api/prototypes`` and ``/api/prototype/{prototype_id}``: describe a prototype, show the caller's state, run
an action."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from protocol import ErrorCode

from ..state import app_state
from ..store.records import Interaction
from .guard import require_principal
from .operation import operation, routes_of
from .parsing import read_json
from .responses import json_response


class ActionRequest(msgspec.Struct, forbid_unknown_fields=True):
    action: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    params: Annotated[
        dict[str, Any],
        msgspec.Meta(description="The action's parameters; their JSON Schema is in `GET /api/prototype/{id}`."),
    ] = {}


class PrototypeSummary(msgspec.Struct):
    id: str
    name: str
    summary: str
    actions: list[str]


class PrototypeList(msgspec.Struct):
    """The seven prototypes, with the names of their actions."""

    prototypes: list[PrototypeSummary]


class ActionDescription(msgspec.Struct):
    summary: str
    params: Annotated[dict[str, Any], msgspec.Meta(description="JSON Schema of the action's `params`.")]


class PrototypeDescription(msgspec.Struct):
    name: str
    summary: str
    events: Annotated[
        dict[str, str], msgspec.Meta(description="The `prototype.event` frames it sends, and what they carry.")
    ]
    actions: dict[str, ActionDescription]


class PrototypeDetail(msgspec.Struct):
    """A prototype: what it is, the caller's state in it, and their latest interactions with it."""

    id: str
    description: PrototypeDescription
    state: Annotated[dict[str, Any], msgspec.Meta(description="The caller's state (each prototype has its own).")]
    interactions: Annotated[list[Interaction], msgspec.Meta(description="The caller's 20 latest, newest first.")]


class ActionDone(msgspec.Struct):
    """What the action returned, and the `prototype_interactions` row that records it."""

    action: str
    result: Annotated[dict[str, Any], msgspec.Meta(description="The action's result (each action has its own).")]
    interaction_id: UUID


@operation("GET", "/api/prototypes", "listPrototypes", tag="prototypes", answers={200: PrototypeList})
async def list_prototypes(request: Request) -> Response:
    """The seven prototypes."""
    await require_principal(request)
    found = app_state(request)["prototypes"].all()
    listed = [PrototypeSummary(p.id, p.name, p.summary, list(p.actions)) for p in found]
    return json_response(PrototypeList(listed))


@operation(
    "GET",
    "/api/prototype/{prototype_id}",
    "getPrototype",
    tag="prototypes",
    answers={200: PrototypeDetail},
    errors=[ErrorCode.PROTOTYPE_NOT_FOUND],
)
async def show_prototype(request: Request) -> Response:
    """A prototype: its description (actions with params schemas), the caller's state and latest interactions."""
    principal = await require_principal(request)
    view = await app_state(request)["prototypes"].view(principal.user_id, request.path_params["prototype_id"])
    prototype = view.prototype
    description = msgspec.convert(prototype.description, PrototypeDescription)
    return json_response(PrototypeDetail(prototype.id, description, view.state, view.interactions))


@operation(
    "POST",
    "/api/prototype/{prototype_id}/actions",
    "runPrototypeAction",
    tag="prototypes",
    body=ActionRequest,
    answers={200: ActionDone},
    errors=[
        ErrorCode.PROTOTYPE_NOT_FOUND,
        ErrorCode.UNKNOWN_ACTION,
        ErrorCode.REPLICA_REQUIRED,
        ErrorCode.REPLICA_NOT_FOUND,
        ErrorCode.NOT_FOUND,
        ErrorCode.BOND_NOT_FOUND,
        ErrorCode.CALL_NOT_FOUND,
        ErrorCode.TOOL_NOT_FOUND,
        ErrorCode.TOOL_FAILED,
        ErrorCode.INSUFFICIENT_FUNDS,
        ErrorCode.PATH_LOCKED,
        ErrorCode.MAX_LEVEL,
        ErrorCode.ALREADY_BONDED,
        ErrorCode.BOND_ENDED,
        ErrorCode.CALL_ENDED,
        ErrorCode.REPLICA_UNAVAILABLE,
        ErrorCode.REPLICA_REJECTED,
    ],
)
async def run_action(request: Request) -> Response:
    """Run an action of a prototype.

    It is recorded in `prototype_interactions` (and that row reaches the caller's sockets as a `change` frame).
    """
    principal = await require_principal(request)
    body = await read_json(request, ActionRequest)
    prototypes = app_state(request)["prototypes"]
    done = await prototypes.act(principal.user_id, request.path_params["prototype_id"], body.action, body.params)
    return json_response(ActionDone(body.action, done.result, done.interaction_id))


routes = routes_of(list_prototypes, show_prototype, run_action)
