"""Bonding Replicas: bond two to five replicas, until unbonded or for a while; bonded replicas share one memory
pool."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

import msgspec

from protocol import MAX_CONTENT_LENGTH, MAX_ID_LENGTH, PrototypeEventFrame

from ..errors import AlreadyBonded, BondEnded, BondNotFound, InvalidInput
from ..store import bonds, interactions
from ..store.errors import Conflict, NotFound
from ..store.users import Executor
from .base import Action, Context, Outcome, Prototype, require_replica

ID = "bonding-replicas"

ReplicaId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]


MAX_BOND_SECONDS = 365 * 24 * 3600
EXPIRIES_PER_SWEEP = 100


class BondParams(msgspec.Struct, forbid_unknown_fields=True):
    replica_ids: Annotated[list[ReplicaId], msgspec.Meta(min_length=2, max_length=5)]
    duration_seconds: Annotated[int, msgspec.Meta(ge=1, le=MAX_BOND_SECONDS)] | None = None
    """How long the bond lasts (``None``: until unbonded)."""


class UnbondParams(msgspec.Struct, forbid_unknown_fields=True):
    bond_id: UUID


class RememberParams(msgspec.Struct, forbid_unknown_fields=True):
    bond_id: UUID
    content: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONTENT_LENGTH)]


async def bond(ctx: Context, user_id: UUID, params: BondParams) -> Outcome:
    """Bond 2 to 5 distinct replicas into one group with a shared memory pool, until unbonded or for
    ``duration_seconds`` (then it expires: ``bond_expired``)."""
    if len(set(params.replica_ids)) != len(params.replica_ids):
        detail = "the replicas of a bond must be distinct - at `$.params.replica_ids`"
        raise InvalidInput(detail)
    await asyncio.gather(*(require_replica(ctx, user_id, r) for r in params.replica_ids))
    try:
        async with ctx.pool.acquire() as conn, conn.transaction():
            created = await bonds.create_bond(conn, user_id, params.replica_ids, params.duration_seconds)
            details = {"bond_id": created.id, "replica_ids": created.replica_ids, "expires_at": created.expires_at}
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
    if not found.live:
        raise BondEnded(f"bond {bond_id} has ended")
    return found


async def expire_due_bonds(ctx: Context) -> int:
    """End bonds past their expiry: each is recorded (``expire``) and its user gets ``bond_expired``; the sweep
    claims them with ``SKIP LOCKED``, so exactly one process ends each. Returns how many ended."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        ended = await bonds.expire_due(conn, EXPIRIES_PER_SWEEP)
        for user_id, gone in ended:
            details = {"bond_id": gone.id, "replica_ids": gone.replica_ids, "expires_at": gone.expires_at}
            await interactions.record(conn, user_id, ID, "expire", details)
    for user_id, gone in ended:
        data = {"bond_id": str(gone.id), "replica_ids": gone.replica_ids}
        await ctx.hub.send_to_user(user_id, PrototypeEventFrame(prototype=ID, event="bond_expired", data=data))
    return len(ended)


async def state(ctx: Context, user_id: UUID) -> dict[str, Any]:
    """The user's bonds (active first) with their latest shared memories."""
    listed = await bonds.list_bonds(ctx.pool, user_id)
    memories = await bonds.list_memories(ctx.pool, user_id, [b.id for b in listed])
    by_bond: dict[UUID, list[bonds.BondMemory]] = {}
    for memory in memories:
        by_bond.setdefault(memory.bond_id, []).append(memory)
    return {"bonds": [{**msgspec.structs.asdict(b), "memories": by_bond.get(b.id, [])} for b in listed]}


PROTOTYPE = Prototype(
    id=ID,
    name="Bonding Replicas",
    summary="Bond two to five replicas, until you unbond them or for a while; whatever you tell the bond is "
    "remembered by all of them, and they draw on it when they answer you in chat, in your rooms and in "
    "task-memory chat.",
    state=state,
    actions={
        "bond": Action(BondParams, bond),
        "unbond": Action(UnbondParams, unbond),
        "remember": Action(RememberParams, remember),
    },
    events={"bond_expired": "{bond_id, replica_ids}: a bond made for a while reached its end"},
)
