"""The ``replica_evolutions`` table: one specialisation path and level per (user, replica)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from .records import from_row
from .users import Executor

_COLUMNS = "replica_id, path, level, spent, created_at, updated_at"


class Evolution(msgspec.Struct, frozen=True):
    replica_id: str
    path: str
    level: int
    spent: int
    created_at: datetime
    updated_at: datetime


async def list_evolutions(db: Executor, user_id: UUID) -> list[Evolution]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM replica_evolutions WHERE user_id = $1 ORDER BY created_at, replica_id", user_id
    )
    return [from_row(Evolution, row) for row in rows]


async def get_evolution(db: Executor, user_id: UUID, replica_id: str) -> Evolution | None:
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM replica_evolutions WHERE user_id = $1 AND replica_id = $2", user_id, replica_id
    )
    return from_row(Evolution, row) if row else None


async def advance(db: Executor, user_id: UUID, replica_id: str, path: str, level: int, cost: int) -> Evolution:
    """Set the replica to ``level`` on ``path`` and add ``cost`` to what it has taken so far."""
    row = await db.fetchrow(
        f"""
        INSERT INTO replica_evolutions AS e (user_id, replica_id, path, level, spent) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (user_id, replica_id) DO UPDATE
            SET path = excluded.path, level = excluded.level, spent = e.spent + excluded.spent, updated_at = now()
        RETURNING {_COLUMNS}
        """,
        user_id,
        replica_id,
        path,
        level,
        cost,
    )
    return from_row(Evolution, row)
