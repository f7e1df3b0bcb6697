"""``/api/mock/*``: simulated outside services (telephony, a $SNSY chain, MCP tools), deterministic.

Their state lives in memory, per user, per process (they are simulations: a restart forgets it, and several
workers do not share it). Every call that changes something is recorded in ``prototype_interactions`` as
prototype ``"mock"``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol import MAX_ID_LENGTH

from ..prototypes.base import ActionError, convert
from ..prototypes.mcp_tools import TOOLS, ToolError
from ..prototypes.telephony_sim import CallStatus, IllegalTransition, SimulatedCall, Telephony
from ..prototypes.web3_sim import Chain
from ..store import interactions
from .guard import require_principal
from .parsing import read_json
from .problems import Problem
from .responses import json_response

PROTOTYPE = "mock"
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


class _Simulations:
    def __init__(self) -> None:
        self.telephony = Telephony()
        self.chain = Chain()


def _sims(request: Request) -> _Simulations:
    # Kept on the app rather than in a module global, so each app (and each test's server) starts empty.
    sims: _Simulations | None = getattr(request.app.state, "mock_simulations", None)
    if sims is None:
        sims = request.app.state.mock_simulations = _Simulations()
    return sims


async def _record(request: Request, user_id: UUID, kind: str, details: dict[str, Any]) -> UUID:
    return (await interactions.record(request.state.pool, user_id, PROTOTYPE, kind, details)).id


async def place_call(request: Request) -> Response:
    principal = await require_principal(request)
    body = await read_json(request, PlaceCall)
    call = _sims(request).telephony.place(principal.user_id, body.to, body.from_, body.replica_id)
    interaction_id = await _record(request, principal.user_id, "telephony.call", {"sid": call.sid, "to": call.to})
    headers = {"Location": f"/api/mock/telephony/calls/{call.sid}"}
    return json_response({"call": call, "interaction_id": interaction_id}, 201, headers=headers)


async def show_call(request: Request) -> Response:
    principal = await require_principal(request)
    return json_response({"call": _call(request, principal.user_id)})


async def call_event(request: Request) -> Response:
    principal = await require_principal(request)
    call = _call(request, principal.user_id)
    body = await read_json(request, CallEventBody)
    try:
        _sims(request).telephony.advance(call, body.status)
    except IllegalTransition as exc:
        raise Problem(409, "illegal_transition", str(exc)) from None
    details = {"sid": call.sid, "status": call.status, "duration_seconds": call.duration_seconds}
    interaction_id = await _record(request, principal.user_id, "telephony.event", details)
    return json_response({"call": call, "interaction_id": interaction_id})


def _call(request: Request, user_id: UUID) -> SimulatedCall:
    call = _sims(request).telephony.get(user_id, request.path_params["sid"])
    if call is None:
        raise Problem(404, "call_not_found", "no such call")
    return call


async def create_transfer(request: Request) -> Response:
    principal = await require_principal(request)
    body = await read_json(request, NewTransfer)
    transfer, new = _sims(request).chain.transfer(principal.user_id, body.from_, body.to, body.amount)
    details = {"hash": transfer.hash, "to": transfer.to, "amount": transfer.amount, "new": new}
    interaction_id = await _record(request, principal.user_id, "web3.transfer", details)
    return json_response({"transfer": transfer, "interaction_id": interaction_id}, 201 if new else 200)


async def show_transfer(request: Request) -> Response:
    principal = await require_principal(request)
    transfer = _sims(request).chain.get(principal.user_id, request.path_params["tx_hash"])
    if transfer is None:
        raise Problem(404, "transfer_not_found", "no such transfer")
    return json_response({"transfer": transfer})


async def run_tool(request: Request) -> Response:
    principal = await require_principal(request)
    name = request.path_params["tool"]
    tool = TOOLS.get(name)
    if tool is None:
        raise Problem(404, "tool_not_found", f"no tool {name!r} (tools: {', '.join(TOOLS)})")
    raw = await read_json(request, dict[str, Any])
    try:
        output = tool.run(convert(raw, tool.input, ""))
    except ActionError as exc:
        raise Problem(exc.status, exc.code, exc.detail) from None
    except ToolError as exc:
        raise Problem(422, "tool_failed", f"{name}: {exc}") from None
    interaction_id = await _record(
        request, principal.user_id, "mcp.tool", {"tool": name, "input": raw, "output": output}
    )
    return json_response({"tool": name, "steps": list(tool.steps), "output": output, "interaction_id": interaction_id})


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
        "Submit a simulated $SNSY transfer (the hash is the sha256 of the transfer)",
        NewTransfer,
        {201: "the new transfer", 200: "the same transfer, submitted before", **_AUTH},
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
