"""``/api/mock/*``: simulated outside services (telephony and its text messages, a $SNSY chain, MCP tools).

The simulations live in ``server.prototypes.simulations``; each call that changes something is recorded in
``prototype_interactions`` as prototype ``"mock"``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from protocol import MAX_ID_LENGTH, ErrorCode

from ..prototypes.telephony_sim import CallStatus, SimulatedCall, SimulatedMessage
from ..prototypes.web3_sim import Transfer
from ..state import app_state
from .guard import require_principal
from .operation import Answer, operation, routes_of
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


class CallRecorded(msgspec.Struct):
    """The simulated call, and the `prototype_interactions` row that records the change."""

    call: SimulatedCall
    interaction_id: UUID


class CallShown(msgspec.Struct):
    """A simulated call."""

    call: SimulatedCall


class TextMessages(msgspec.Struct):
    """Text messages the simulated provider delivered for you, oldest first (at most the last 100)."""

    messages: list[SimulatedMessage]


class TransferRecorded(msgspec.Struct):
    """The simulated transfer, and the `prototype_interactions` row that records it."""

    transfer: Transfer
    interaction_id: UUID


class TransferShown(msgspec.Struct):
    """A simulated transfer."""

    transfer: Transfer


class ToolRan(msgspec.Struct):
    """The steps the mock tool took and its output."""

    tool: str
    steps: list[str]
    output: dict[str, Any]
    interaction_id: UUID


ToolInput = Annotated[dict[str, Any], msgspec.Meta(description="The tool's input (each tool takes its own).")]
_CALL = Answer(CallRecorded, "The call.", {"Location": "The call's URL."})


@operation("POST", "/api/mock/telephony/calls", "placeCall", tag="mock", body=PlaceCall, answers={201: _CALL})
async def place_call(request: Request) -> Response:
    """Place a simulated call (it starts `queued`)."""
    principal = await require_principal(request)
    body = await read_json(request, PlaceCall)
    placed = await app_state(request)["simulations"].place_call(principal.user_id, body.to, body.from_, body.replica_id)
    headers = {"Location": f"/api/mock/telephony/calls/{placed.value.sid}"}
    return json_response(CallRecorded(placed.value, placed.interaction_id), 201, headers=headers)


@operation(
    "GET",
    "/api/mock/telephony/calls/{sid}",
    "getCall",
    tag="mock",
    answers={200: CallShown},
    errors=[ErrorCode.CALL_NOT_FOUND],
)
async def show_call(request: Request) -> Response:
    """A simulated call."""
    principal = await require_principal(request)
    call = app_state(request)["simulations"].call(principal.user_id, request.path_params["sid"])
    return json_response(CallShown(call))


@operation(
    "POST",
    "/api/mock/telephony/calls/{sid}/events",
    "advanceCall",
    tag="mock",
    body=CallEventBody,
    answers={200: CallRecorded},
    errors=[ErrorCode.CALL_NOT_FOUND, ErrorCode.ILLEGAL_TRANSITION],
)
async def call_event(request: Request) -> Response:
    """Move a simulated call to its next status (`ringing`, `answered`, `completed`, ...).

    A call placed with a `replica_id` is answered by that replica when it becomes `answered`: `voice_call_id` names
    the Pure Voice call (it waits for the owner's PIN); `completed` or `failed` ends that call.
    """
    principal = await require_principal(request)
    simulations = app_state(request)["simulations"]
    body = await read_json(request, CallEventBody)  # validated first: bad input is 422 whatever the call
    simulations.call(principal.user_id, request.path_params["sid"])
    moved = await simulations.advance_call(principal.user_id, request.path_params["sid"], body.status)
    return json_response(CallRecorded(moved.value, moved.interaction_id))


@operation("GET", "/api/mock/telephony/messages", "listTextMessages", tag="mock", answers={200: TextMessages})
async def list_text_messages(request: Request) -> Response:
    """The text messages the simulated provider sent on your behalf (e.g. a phone number's verification code).

    The simulation stands in for the handset at each `to` number: a real provider delivers the text to that phone
    only.
    """
    principal = await require_principal(request)
    return json_response(TextMessages(app_state(request)["simulations"].telephony.messages(principal.user_id)))


@operation(
    "POST",
    "/api/mock/web3/transfers",
    "createTransfer",
    tag="mock",
    body=NewTransfer,
    answers={
        201: Answer(TransferRecorded, "The new transfer."),
        200: Answer(TransferRecorded, "The same nonce, submitted before: that transfer."),
    },
    errors=[ErrorCode.FORBIDDEN, ErrorCode.INSUFFICIENT_FUNDS],
)
async def create_transfer(request: Request) -> Response:
    """Send mock $SNSY from your ledger balance to a wallet address.

    A hub user's wallet is credited; `from`, when given, must be your wallet (else 403). A `nonce` makes identical
    transfers distinct (omitted: the next one); the same nonce again answers the first transfer.
    """
    principal = await require_principal(request)
    body = await read_json(request, NewTransfer)
    sent, new = await app_state(request)["simulations"].transfer(
        principal.user_id, body.from_, body.to, body.amount, body.nonce
    )
    return json_response(TransferRecorded(sent.value, sent.interaction_id), 201 if new else 200)


@operation(
    "GET",
    "/api/mock/web3/transfers/{tx_hash}",
    "getTransfer",
    tag="mock",
    answers={200: TransferShown},
    errors=[ErrorCode.TRANSFER_NOT_FOUND],
)
async def show_transfer(request: Request) -> Response:
    """A simulated transfer, by hash."""
    principal = await require_principal(request)
    transfer = await app_state(request)["simulations"].transfer_of(principal.user_id, request.path_params["tx_hash"])
    return json_response(TransferShown(transfer))


@operation(
    "POST",
    "/api/mock/mcp/tools/{tool}",
    "runTool",
    tag="mock",
    body=ToolInput,
    answers={200: ToolRan},
    errors=[ErrorCode.TOOL_NOT_FOUND, ErrorCode.TOOL_FAILED],
)
async def run_tool(request: Request) -> Response:
    """Run a mock MCP tool (`search`, `summarize`, `translate`, `calculator`) on a JSON input."""
    principal = await require_principal(request)
    name = request.path_params["tool"]
    simulations = app_state(request)["simulations"]
    raw = await read_json(request, dict[str, Any])  # validated first: bad input is 422 whatever the tool
    simulations.tool(name)
    ran = await simulations.run_tool(principal.user_id, name, raw)
    tool = ran.value
    return json_response(ToolRan(tool.tool, tool.steps, tool.output, ran.interaction_id))


routes = routes_of(place_call, show_call, call_event, list_text_messages, create_transfer, show_transfer, run_tool)
