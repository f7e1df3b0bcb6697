"""``/api/prototypes`` and ``/api/prototype/{prototype_id}``: describe a prototype, show the caller's state, run
an action."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from protocol import ErrorCode

from ..errors import NotFound
from ..prototypes.service import Entry, Interaction
from ..state import app_state
from .guard import require_principal
from .operation import operation, routes_of
from .pages import MAX_PAGE, PageQuery
from .parsing import read_json, read_query
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


class RecordsQuery(PageQuery, kw_only=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE, description="Page size.")] = 20


class PrototypeDetail(msgspec.Struct):
    """A prototype: what it is, the caller's state in it, and a page of their records with it."""

    id: str
    description: PrototypeDescription
    state: Annotated[dict[str, Any], msgspec.Meta(description="The caller's state (each prototype has its own).")]
    interactions: Annotated[list[Interaction], msgspec.Meta(description="The caller's records, newest first.")]
    next_before: Annotated[int | None, msgspec.Meta(description="`before` of the next page (null: no more).")]


class NftAttribute(msgspec.Struct, omit_defaults=True):
    trait_type: str
    value: str | int
    display_type: str | None = None
    max_value: int | None = None


class NftMetadata(msgspec.Struct):
    """ERC-721 metadata JSON of an evolution level."""

    name: str
    description: str
    image: Annotated[str, msgspec.Meta(description="An SVG, as a data URL.")]
    external_url: str
    attributes: list[NftAttribute]


class LedgerPage(msgspec.Struct):
    """The caller's $SNSY balance and stake, and a page of the journal, newest first."""

    balance: int
    staked: int
    entries: list[Entry]
    next_before: Annotated[int | None, msgspec.Meta(description="`before` of the next page (null: no more).")]


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
    query=RecordsQuery,
    answers={200: PrototypeDetail},
    errors=[ErrorCode.PROTOTYPE_NOT_FOUND],
)
async def show_prototype(request: Request) -> Response:
    """A prototype: its description (actions with params schemas), the caller's state and a page of their records."""
    principal = await require_principal(request)
    query = read_query(request, RecordsQuery)
    view = await app_state(request)["prototypes"].view(
        principal.user_id, request.path_params["prototype_id"], limit=query.limit, before=query.before
    )
    prototype = view.prototype
    description = msgspec.convert(prototype.description, PrototypeDescription)
    page = view.interactions
    next_before = page[-1].n if len(page) == query.limit else None
    return json_response(PrototypeDetail(prototype.id, description, view.state, page, next_before))


@operation(
    "GET",
    "/api/prototype/token-guided-evolution/nft/{replica_id}/{level}",
    "getEvolutionNft",
    tag="prototypes",
    answers={200: NftMetadata},
    errors=[ErrorCode.NOT_FOUND],
)
async def show_evolution_nft(request: Request) -> Response:
    """Mock NFT metadata (ERC-721 JSON) of an evolution level the caller's replica reached.

    Only its owner sees it; a level not reached is 404.
    """
    principal = await require_principal(request)
    raw_level = request.path_params["level"]
    if not (raw_level.isascii() and raw_level.isdigit()) or len(raw_level) > 3:
        raise NotFound(f"no level {raw_level!r}")
    level = int(raw_level)
    replica_id = request.path_params["replica_id"]
    metadata = await app_state(request)["prototypes"].evolution_nft(principal.user_id, replica_id, level)
    return json_response(msgspec.convert(metadata, NftMetadata))


@operation("GET", "/api/ledger", "getLedger", tag="prototypes", query=PageQuery, answers={200: LedgerPage})
async def show_ledger(request: Request) -> Response:
    """The caller's mock $SNSY balance and its whole journal, newest first, a page at a time."""
    principal = await require_principal(request)
    query = read_query(request, PageQuery)
    prototypes = app_state(request)["prototypes"]
    account, entries = await prototypes.ledger(principal.user_id, limit=query.limit, before=query.before)
    next_before = entries[-1].n if len(entries) == query.limit else None
    return json_response(LedgerPage(account.balance, account.staked, entries, next_before))


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
        ErrorCode.PIN_REQUIRED,
        ErrorCode.WRONG_PIN,
        ErrorCode.WRONG_CODE,
        ErrorCode.NUMBER_TAKEN,
        ErrorCode.SPEECH_NOT_RECOGNIZED,
        ErrorCode.SPEECH_UNAVAILABLE,
        ErrorCode.ALREADY_UNLOCKED,
        ErrorCode.LISTING_CLOSED,
        ErrorCode.TASK_CONFLICT,
        ErrorCode.FORBIDDEN,
        ErrorCode.REPLICA_UNAVAILABLE,
        ErrorCode.REPLICA_REJECTED,
        ErrorCode.REPLICA_QUOTA_EXCEEDED,
        ErrorCode.REPLICA_POLICY_REFUSED,
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


routes = routes_of(list_prototypes, show_prototype, run_action, show_ledger, show_evolution_nft)
