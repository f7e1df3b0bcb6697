"""Bonding Replicas: bond two to five replicas; bonded replicas share one memory pool."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import msgspec

from protocol import MAX_CONTENT_LENGTH, MAX_ID_LENGTH

from ..errors import AlreadyBonded, BondEnded, BondNotFound, InvalidInput
from ..store import bonds, interactions
from ..store.errors import Conflict, NotFound
from ..store.users import Executor
from .base import Action, Context, Outcome, Prototype, require_replica

ID = "bonding-replicas"
MEMORY_CONTEXT_LIMIT = 20

ReplicaId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]


class BondParams(msgspec.Struct, forbid_unknown_fields=True):
    replica_ids: Annotated[list[ReplicaId], msgspec.Meta(min_length=2, max_length=5)]


class UnbondParams(msgspec.Struct, forbid_unknown_fields=True):
    bond_id: UUID


class RememberParams(msgspec.Struct, forbid_unknown_fields=True):
    bond_id: UUID
    content: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONTENT_LENGTH)]


async def bond(ctx: Context, user_id: UUID, params: BondParams) -> Outcome:
    """Bond 2 to 5 distinct replicas into one group with a shared memory pool."""
    if len(set(params.replica_ids)) != len(params.replica_ids):
        detail = "the replicas of a bond must be distinct - at `$.params.replica_ids`"
        raise InvalidInput(detail)
    await asyncio.gather(*(require_replica(ctx, user_id, r) for r in params.replica_ids))
    try:
        async with ctx.pool.acquire() as conn, conn.transaction():
            created = await bonds.create_bond(conn, user_id, params.replica_ids)
            details = {"bond_id": created.id, "replica_ids": created.replica_ids}
            interaction = await interactions.record(conn, user_id, ID, "bond", details)
    except Conflict:
        raise AlreadyBonded("these replicas already form an active bond") from None
    return Outcome({"bond": {**msgspec.structs.asdict(created), "memories": []}}, interaction)


async def unbond(ctx: Context, user_id: UUID, params: UnbondParams) -> Outcome:
    """End a bond; its memories stop reaching its replicas."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        ended = await bonds.end_bond(conn, user_id, params.bond_id)
        if ended is None:
            await _active_bond(conn, user_id, params.bond_id)  # raises the right 404 or 409
            raise AssertionError("unreachable: the bond was not active")
        details = {"bond_id": ended.id, "replica_ids": ended.replica_ids}
        interaction = await interactions.record(conn, user_id, ID, "unbond", details)
    return Outcome({"bond": ended}, interaction)


async def remember(ctx: Context, user_id: UUID, params: RememberParams) -> Outcome:
    """Add a memory to an active bond's shared pool: every replica of the bond can draw on it."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        target = await _active_bond(conn, user_id, params.bond_id, for_update=True)
        memory = await bonds.add_memory(conn, user_id, target.id, params.content)
        details = {"bond_id": target.id, "memory_id": memory.id, "content": memory.content}
        interaction = await interactions.record(conn, user_id, ID, "remember", details)
    return Outcome({"memory": memory, "replica_ids": target.replica_ids}, interaction)


async def _active_bond(db: Executor, user_id: UUID, bond_id: UUID, *, for_update: bool = False) -> bonds.Bond:
    try:
        found = await bonds.get_bond(db, user_id, bond_id, for_update=for_update)
    except NotFound:
        raise BondNotFound(f"no bond {bond_id}") from None
    if not found.active:
        raise BondEnded(f"bond {bond_id} has ended")
    return found


async def state(ctx: Context, user_id: UUID) -> dict[str, Any]:
    """The user's bonds (active first) with their latest shared memories."""
    listed = await bonds.list_bonds(ctx.pool, user_id)
    memories = await bonds.list_memories(ctx.pool, user_id, [b.id for b in listed])
    by_bond: dict[UUID, list[bonds.BondMemory]] = {}
    for memory in memories:
        by_bond.setdefault(memory.bond_id, []).append(memory)
    return {"bonds": [{**msgspec.structs.asdict(b), "memories": by_bond.get(b.id, [])} for b in listed]}


async def memory_context(pool: asyncpg.Pool, user_id: UUID, replica_id: str) -> str | None:
    """The shared memories of the user's active bonds that include ``replica_id``, as a text to prepend to a
    message for that replica; ``None`` when there are none."""
    memories = await bonds.shared_memories(pool, user_id, replica_id, MEMORY_CONTEXT_LIMIT)
    if not memories:
        return None
    lines = "\n".join(f"- {m}" for m in memories)
    return f"Shared memories from your bonded replicas:\n{lines}"


PROTOTYPE = Prototype(
    id=ID,
    name="Bonding Replicas",
    summary="Bond two to five replicas; whatever you tell the bond is remembered by all of them, and they draw on "
    "it when they answer you in chat.",
    state=state,
    actions={
        "bond": Action(BondParams, bond),
        "unbond": Action(UnbondParams, unbond),
        "remember": Action(RememberParams, remember),
    },
)
