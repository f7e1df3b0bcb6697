"""``/api/prototypes`` and ``/api/prototype/{prototype_id}``: describe a prototype, show the caller's state, run
an action."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import NotFound
from ..state import app_state
from .guard import require_principal
from .parsing import query_int, read_json
from .responses import json_response

MAX_PAGE = 200


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
    limit = query_int(request, "limit", default=20, low=1, high=MAX_PAGE)
    before = query_int(request, "before", default=None, low=1, high=2**62)
    assert limit is not None
    view = await app_state(request)["prototypes"].view(
        principal.user_id, request.path_params["prototype_id"], limit=limit, before=before
    )
    prototype = view.prototype
    page = view.interactions
    return json_response(
        {
            "id": prototype.id,
            "description": prototype.description,
            "state": view.state,
            "interactions": page,
            "next_before": page[-1].n if len(page) == limit else None,
        }
    )


async def show_evolution_nft(request: Request) -> Response:
    """ERC-721 metadata JSON of one evolution level (only its owner sees it; 404 for a level not reached)."""
    principal = await require_principal(request)
    raw_level = request.path_params["level"]
    if not raw_level.isdigit() or len(raw_level) > 3:
        raise NotFound(f"no level {raw_level!r}")
    level = int(raw_level)
    replica_id = request.path_params["replica_id"]
    return json_response(await app_state(request)["prototypes"].evolution_nft(principal.user_id, replica_id, level))


async def show_ledger(request: Request) -> Response:
    """The caller's $SNSY balance and its full journal, newest first, a page at a time."""
    principal = await require_principal(request)
    limit = query_int(request, "limit", default=50, low=1, high=MAX_PAGE)
    before = query_int(request, "before", default=None, low=1, high=2**62)
    assert limit is not None
    account, entries = await app_state(request)["prototypes"].ledger(principal.user_id, limit=limit, before=before)
    next_before = entries[-1].n if len(entries) == limit else None
    return json_response({"balance": account.balance, "staked": account.staked, "entries": entries,
                          "next_before": next_before})  # fmt: skip


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
    Route("/api/ledger", show_ledger, methods=["GET"]),
    Route("/api/prototype/token-guided-evolution/nft/{replica_id}/{level}", show_evolution_nft, methods=["GET"]),
]

_AUTH = {401: "missing, invalid or revoked token"}
OPERATIONS: list[tuple[str, str, str, type | None, dict[int, str]]] = [
    ("get", "/api/prototypes", "The seven prototypes", None, {200: "id, name, summary, actions", **_AUTH}),
    (
        "get",
        "/api/prototype/{prototype_id}",
        "A prototype: its description (actions with params schemas), the caller's state and a page of their "
        "records (?limit=1..200, default 20; ?before=<next_before> for the next page)",
        None,
        {200: "id, description, state, interactions, next_before", 404: "no such prototype", **_AUTH},
    ),
    (
        "get",
        "/api/prototype/token-guided-evolution/nft/{replica_id}/{level}",
        "Mock NFT metadata (ERC-721 JSON: name, description, image, attributes) of an evolution level the caller's "
        "replica reached",
        None,
        {200: "the metadata", 404: "level not reached", **_AUTH},
    ),
    (
        "get",
        "/api/ledger",
        "The caller's mock $SNSY balance and the whole journal, newest first (?limit=1..200, default 50; "
        "?before=<next_before>)",
        None,
        {200: "balance, staked, entries, next_before", **_AUTH},
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
