"""``/api/mock/*``: simulated outside services (telephony, a $SNSY chain, MCP tools), deterministic.

The simulations live in ``server.prototypes.simulations``; each call that changes something is recorded in
``prototype_interactions`` as prototype ``"mock"``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol import MAX_ID_LENGTH

from ..prototypes.telephony_sim import CallStatus
from ..state import app_state
from .guard import require_principal
from .parsing import read_json
from .responses import json_response

Phone = Annotated[str, msgspec.Meta(pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164 number")]
Address = Annotated[str, msgspec.Meta(pattern=r"^0x[0-9a-fA-F]{40}$", description="0x and 40 hex digits")]


class PlaceCall(msgspec.Struct, forbid_unknown_fields=True):
    to: Phone
    from_: Phone | None = msgspec.field(default=None, name="from")
    replica_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)] | None = None


class CallEventBody(msgspec.Struct, forbid_unknown_fields=True):
    status: CallStatus


class NewTransfer(msgspec.Struct, forbid_unknown_fields=True):
    to: Address
    amount: Annotated[int, msgspec.Meta(gt=0, le=10**18)]
    token: Literal["SNSY"]
    from_: Address | None = msgspec.field(default=None, name="from")
    nonce: Annotated[int, msgspec.Meta(ge=0, le=2**62)] | None = None
    """The sender's transfer number: omitted, the next one; the same nonce again answers the first transfer."""


async def place_call(request: Request) -> Response:
    principal = await require_principal(request)
    body = await read_json(request, PlaceCall)
    placed = await app_state(request)["simulations"].place_call(principal.user_id, body.to, body.from_, body.replica_id)
    headers = {"Location": f"/api/mock/telephony/calls/{placed.value.sid}"}
    return json_response({"call": placed.value, "interaction_id": placed.interaction_id}, 201, headers=headers)


async def show_call(request: Request) -> Response:
    principal = await require_principal(request)
    return json_response(
        {"call": app_state(request)["simulations"].call(principal.user_id, request.path_params["sid"])}
    )


async def call_event(request: Request) -> Response:
    principal = await require_principal(request)
    simulations = app_state(request)["simulations"]
    simulations.call(principal.user_id, request.path_params["sid"])  # an unknown call is 404 before the body
    body = await read_json(request, CallEventBody)
    moved = await simulations.advance_call(principal.user_id, request.path_params["sid"], body.status)
    return json_response({"call": moved.value, "interaction_id": moved.interaction_id})


async def create_transfer(request: Request) -> Response:
    principal = await require_principal(request)
    body = await read_json(request, NewTransfer)
    sent, new = await app_state(request)["simulations"].transfer(
        principal.user_id, body.from_, body.to, body.amount, body.nonce
    )
    return json_response({"transfer": sent.value, "interaction_id": sent.interaction_id}, 201 if new else 200)


async def show_transfer(request: Request) -> Response:
    principal = await require_principal(request)
    transfer = await app_state(request)["simulations"].transfer_of(principal.user_id, request.path_params["tx_hash"])
    return json_response({"transfer": transfer})


async def run_tool(request: Request) -> Response:
    principal = await require_principal(request)
    name = request.path_params["tool"]
    simulations = app_state(request)["simulations"]
    simulations.tool(name)  # an unknown tool is 404 before the body
    raw = await read_json(request, dict[str, Any])
    ran = await simulations.run_tool(principal.user_id, name, raw)
    tool = ran.value
    answer = {"tool": tool.tool, "steps": tool.steps, "output": tool.output, "interaction_id": ran.interaction_id}
    return json_response(answer)


routes = [
    Route("/api/mock/telephony/calls", place_call, methods=["POST"]),
    Route("/api/mock/telephony/calls/{sid}", show_call, methods=["GET"]),
    Route("/api/mock/telephony/calls/{sid}/events", call_event, methods=["POST"]),
    Route("/api/mock/web3/transfers", create_transfer, methods=["POST"]),
    Route("/api/mock/web3/transfers/{tx_hash}", show_transfer, methods=["GET"]),
    Route("/api/mock/mcp/tools/{tool}", run_tool, methods=["POST"]),
]

_AUTH = {401: "missing, invalid or revoked token"}
OPERATIONS: list[tuple[str, str, str, type | None, dict[int, str]]] = [
    ("post", "/api/mock/telephony/calls", "Place a simulated call", PlaceCall, {201: "the call, queued", **_AUTH}),
    (
        "get",
        "/api/mock/telephony/calls/{sid}",
        "A simulated call",
        None,
        {200: "the call", 404: "no such call", **_AUTH},
    ),
    (
        "post",
        "/api/mock/telephony/calls/{sid}/events",
        "Move a simulated call to its next status (ringing, answered, completed, ...)",
        CallEventBody,
        {200: "the call", 404: "no such call", 409: "illegal transition", **_AUTH},
    ),
    (
        "post",
        "/api/mock/web3/transfers",
        "Send mock $SNSY from your ledger balance to a wallet address (a hub user's wallet is credited); a nonce "
        "makes identical transfers distinct",
        NewTransfer,
        {
            201: "the new transfer",
            200: "the same nonce, submitted before",
            403: "from is not your wallet",
            409: "insufficient_funds",
            **_AUTH,
        },
    ),
    (
        "get",
        "/api/mock/web3/transfers/{tx_hash}",
        "A simulated transfer by hash",
        None,
        {200: "the transfer", 404: "no such transfer", **_AUTH},
    ),
    (
        "post",
        "/api/mock/mcp/tools/{tool}",
        "Run a mock MCP tool (search, summarize, translate, calculator) on a JSON input",
        None,
        {200: "the tool's output", 404: "no such tool", **_AUTH},
    ),
]
