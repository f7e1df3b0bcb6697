"""The simulated outside services behind ``/api/mock/*`` (telephony, a $SNSY chain, MCP tools).

Telephony and the tools keep their state in memory, per user, per process (a restart forgets it); the chain
moves ledger balances, so its transfers are rows. Every call that changes something is recorded in
``prototype_interactions`` as prototype ``"mock"``.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple
from uuid import UUID

import asyncpg

from ..errors import CallNotFound, ToolFailed, ToolNotFound, TransferNotFound
from ..store import interactions
from . import pure_voice, web3_sim
from .base import Context, convert
from .mcp_tools import TOOLS, Tool, ToolError
from .telephony_sim import CallStatus, SimulatedCall, Telephony
from .web3_sim import Transfer

PROTOTYPE: Final = "mock"


class Recorded(NamedTuple):
    """What a simulated service answered, and the interaction row that records the call."""

    value: Any
    interaction_id: UUID


class ToolRun(NamedTuple):
    tool: str
    steps: list[str]
    output: dict[str, Any]


class Simulations:
    """One process's simulated services."""

    def __init__(self, pool: asyncpg.Pool, voice: Context) -> None:
        self.pool = pool
        self.voice = voice
        """Pure Voice's context: its telephony provider is this one, and its replica answers calls placed here."""
        self.telephony: Telephony = voice.voice.telephony

    async def place_call(self, user_id: UUID, to: str, from_: str | None, replica_id: str | None) -> Recorded:
        call = self.telephony.place(user_id, to, from_, replica_id)
        return Recorded(call, await self._record(user_id, "telephony.call", {"sid": call.sid, "to": call.to}))

    def call(self, user_id: UUID, sid: str) -> SimulatedCall:
        call = self.telephony.get(user_id, sid)
        if call is None:
            raise CallNotFound("no such call")
        return call

    async def advance_call(self, user_id: UUID, sid: str, status: CallStatus) -> Recorded:
        """Move the call on; :class:`~server.errors.IllegalTransition` if it cannot go there. A call placed with a
        ``replica_id`` is answered by that replica (a Pure Voice call), and ends with it."""
        call = self.telephony.advance(self.call(user_id, sid), status)
        if status is CallStatus.ANSWERED and call.replica_id is not None:
            await pure_voice.provider_answered(self.voice, user_id, call)
        elif status in (CallStatus.COMPLETED, CallStatus.FAILED):
            await pure_voice.provider_ended(self.voice, user_id, call)
        details = {"sid": call.sid, "status": call.status, "duration_seconds": call.duration_seconds}
        return Recorded(call, await self._record(user_id, "telephony.event", details))

    async def transfer(
        self, user_id: UUID, from_: str | None, to: str, amount: int, nonce: int | None
    ) -> tuple[Recorded, bool]:
        """Submit a transfer that moves ledger balances; ``True`` when it is new (a nonce sent again answers the
        first transfer); :class:`~server.errors.InsufficientFunds` when the balance is smaller."""
        async with self.pool.acquire() as conn, conn.transaction():
            transfer, new = await web3_sim.send(conn, user_id, from_, to, amount, nonce)
            details = {"hash": transfer.hash, "to": transfer.to, "amount": transfer.amount, "nonce": transfer.nonce,
                       "new": new}  # fmt: skip
            recorded = await interactions.record(conn, user_id, PROTOTYPE, "web3.transfer", details)
        return Recorded(transfer, recorded.id), new

    async def transfer_of(self, user_id: UUID, tx_hash: str) -> Transfer:
        transfer = await web3_sim.find(self.pool, user_id, tx_hash)
        if transfer is None:
            raise TransferNotFound("no such transfer")
        return transfer

    async def run_tool(self, user_id: UUID, name: str, raw: dict[str, Any]) -> Recorded:
        """Run a mock MCP tool on a JSON input (validated against the tool's input struct)."""
        tool = self.tool(name)
        try:
            output = tool.run(convert(raw, tool.input, ""))
        except ToolError as exc:
            raise ToolFailed(f"{name}: {exc}") from None
        interaction_id = await self._record(user_id, "mcp.tool", {"tool": name, "input": raw, "output": output})
        return Recorded(ToolRun(name, list(tool.steps), output), interaction_id)

    @staticmethod
    def tool(name: str) -> Tool:
        """The mock MCP tool called ``name``; :class:`~server.errors.ToolNotFound` if there is none."""
        tool = TOOLS.get(name)
        if tool is None:
            raise ToolNotFound(f"no tool {name!r} (tools: {', '.join(TOOLS)})")
        return tool

    async def _record(self, user_id: UUID, kind: str, details: dict[str, Any]) -> UUID:
        return (await interactions.record(self.pool, user_id, PROTOTYPE, kind, details)).id
