"""The ``replica_bonds`` and ``bond_memories`` tables: bonded replica sets and their shared memory pool."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

import asyncpg
import msgspec

from .errors import Conflict, NotFound
from .records import from_row
from .users import Executor

_BOND_COLUMNS = "id, replica_ids, active, created_at, ended_at, expires_at, end_reason"
# A bond past its expiry no longer counts, even before the sweep has ended it.
_LIVE = "b.active AND (b.expires_at IS NULL OR b.expires_at > now())"
_MEMORY_COLUMNS = "id, bond_id, content, created_at"


class Bond(msgspec.Struct, frozen=True):
    id: UUID
    replica_ids: list[str]
    active: bool
    created_at: datetime
    ended_at: datetime | None
    expires_at: datetime | None
    """When a bond made for a while ends (``None``: until unbonded)."""
    end_reason: Literal["unbonded", "expired"] | None

    @property
    def live(self) -> bool:
        """Active and not past its expiry."""
        return self.active and (self.expires_at is None or self.expires_at > datetime.now(UTC))


class BondMemory(msgspec.Struct, frozen=True):
    id: UUID
    bond_id: UUID
    content: str
    created_at: datetime


async def create_bond(
    db: Executor, user_id: UUID, replica_ids: list[str], duration_seconds: float | None = None
) -> Bond:
    """Bond the replicas, until unbonded or for ``duration_seconds``; :class:`Conflict` when the same set is already
    bonded (an expired bond the sweep has not ended yet is ended here first)."""
    await db.execute(
        """
        UPDATE replica_bonds SET active = false, ended_at = now(), end_reason = 'expired'
        WHERE user_id = $1 AND replica_ids = $2 AND active AND expires_at <= now()
        """,
        user_id,
        sorted(replica_ids),
    )
    try:
        row = await db.fetchrow(
            f"""
            INSERT INTO replica_bonds (user_id, replica_ids, expires_at)
            VALUES ($1, $2, now() + make_interval(secs => $3)) RETURNING {_BOND_COLUMNS}
            """,
            user_id,
            sorted(replica_ids),
            duration_seconds,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict("these replicas are already bonded") from exc
    return from_row(Bond, row)


async def get_bond(db: Executor, user_id: UUID, bond_id: UUID, *, for_update: bool = False) -> Bond:
    """The user's bond; :class:`NotFound` for an unknown id or another user's bond."""
    lock = " FOR UPDATE" if for_update else ""
    row = await db.fetchrow(
        f"SELECT {_BOND_COLUMNS} FROM replica_bonds WHERE id = $1 AND user_id = $2{lock}", bond_id, user_id
    )
    if row is None:
        raise NotFound("bond not found")
    return from_row(Bond, row)


async def end_bond(db: Executor, user_id: UUID, bond_id: UUID) -> Bond | None:
    """Deactivate an active bond; ``None`` when it is not active (or not the user's)."""
    row = await db.fetchrow(
        "UPDATE replica_bonds SET active = false, ended_at = now(), end_reason = 'unbonded'"
        f" WHERE id = $1 AND user_id = $2 AND active RETURNING {_BOND_COLUMNS}",
        bond_id,
        user_id,
    )
    return from_row(Bond, row) if row else None


async def list_bonds(db: Executor, user_id: UUID, limit: int = 50) -> list[Bond]:
    """Active bonds first, then the most recent ended ones."""
    rows = await db.fetch(
        f"SELECT {_BOND_COLUMNS} FROM replica_bonds WHERE user_id = $1"
        " ORDER BY active DESC, created_at DESC, id LIMIT $2",
        user_id,
        limit,
    )
    return [from_row(Bond, row) for row in rows]


async def add_memory(db: Executor, user_id: UUID, bond_id: UUID, content: str) -> BondMemory:
    row = await db.fetchrow(
        f"INSERT INTO bond_memories (bond_id, user_id, content) VALUES ($1, $2, $3) RETURNING {_MEMORY_COLUMNS}",
        bond_id,
        user_id,
        content,
    )
    return from_row(BondMemory, row)


async def list_memories(db: Executor, user_id: UUID, bond_ids: list[UUID], limit: int = 20) -> list[BondMemory]:
    """The latest ``limit`` memories of each bond, oldest first within a bond."""
    rows = await db.fetch(
        f"""
        SELECT {_MEMORY_COLUMNS} FROM (
            SELECT *, row_number() OVER (PARTITION BY bond_id ORDER BY created_at DESC, id DESC) AS n
            FROM bond_memories WHERE user_id = $1 AND bond_id = ANY($2::uuid[])
        ) m WHERE n <= $3 ORDER BY bond_id, created_at, id
        """,
        user_id,
        bond_ids,
        limit,
    )
    return [from_row(BondMemory, row) for row in rows]


async def shared_memories(db: Executor, user_id: UUID, replica_id: str, limit: int = 20) -> list[str]:
    """The newest ``limit`` memories of the user's active bonds that include ``replica_id``, oldest first."""
    rows = await db.fetch(
        f"""
        SELECT content FROM (
            SELECT m.content, m.created_at, m.id FROM bond_memories m
            JOIN replica_bonds b ON b.id = m.bond_id
            WHERE b.user_id = $1 AND {_LIVE} AND b.replica_ids @> ARRAY[$2::text]
            ORDER BY m.created_at DESC, m.id DESC LIMIT $3
        ) newest ORDER BY created_at, id
        """,
        user_id,
        replica_id,
        limit,
    )
    return [row["content"] for row in rows]


async def expire_due(db: Executor, limit: int) -> list[tuple[UUID, Bond]]:
    """End active bonds past their expiry (``end_reason`` expired), skipping rows others hold; returns
    (user, bond) of each."""
    rows = await db.fetch(
        f"""
        UPDATE replica_bonds SET active = false, ended_at = now(), end_reason = 'expired'
        WHERE id IN (
            SELECT id FROM replica_bonds WHERE active AND expires_at <= now()
            ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
        )
        RETURNING user_id, {_BOND_COLUMNS}
        """,
        limit,
    )
    return [(row["user_id"], from_row(Bond, row)) for row in rows]
