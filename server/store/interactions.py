"""The ``prototype_interactions`` table: one row per prototype action (the change feed shows it to the owner)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec

from .records import Interaction, from_row
from .users import Executor

_COLUMNS = "id, user_id, prototype, interaction_type, details, created_at, n"


async def record(
    db: Executor, user_id: UUID, prototype: str, interaction_type: str, details: dict[str, Any]
) -> Interaction:
    """Insert one interaction; pass the transaction's connection to record it with the change it describes.

    ``details`` may hold UUIDs, datetimes and records: they are stored as their JSON forms.
    """
    row = await db.fetchrow(
        f"INSERT INTO prototype_interactions (user_id, prototype, interaction_type, details)"
        f" VALUES ($1, $2, $3, $4) RETURNING {_COLUMNS}",
        user_id,
        prototype,
        interaction_type,
        msgspec.to_builtins(details),
    )
    return from_row(Interaction, row)


async def list_recent(
    db: Executor, user_id: UUID, prototype: str, limit: int = 20, *, before: int | None = None
) -> list[Interaction]:
    """The user's interactions with one prototype, newest first, those before position ``before`` when given."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM prototype_interactions WHERE user_id = $1 AND prototype = $2"
        " AND ($4::bigint IS NULL OR n < $4) ORDER BY n DESC LIMIT $3",
        user_id,
        prototype,
        limit,
        before,
    )
    return [from_row(Interaction, row) for row in rows]
