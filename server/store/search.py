"""Search one user's own conversations and tasks: PostgreSQL full-text (English stemming) or, for what stemming
misses (names, parts of words), a case-insensitive substring; only ever the user's rows."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

import msgspec

from .records import from_row
from .users import Executor

HitKind = Literal["message", "task"]


class Hit(msgspec.Struct, frozen=True):
    kind: HitKind
    id: UUID
    replica_id: str | None
    """The replica of the conversation a message is in (``None`` for a task)."""
    text: str
    at: datetime
    score: float


def _pattern(query: str) -> str:
    """``query`` as an ILIKE pattern matching it anywhere (its own ``%``, ``_`` and ``\\`` taken literally)."""
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search(db: Executor, user_id: UUID, query: str, limit: int) -> tuple[int, list[Hit]]:
    """How many of the user's messages and tasks match ``query``, and the best ``limit`` of them (a full-text
    match ranks by ``ts_rank``, a literal substring adds 1; newer first among equals)."""
    # Full text and the literal part are separate branches, so the first can use the GIN indexes (067, with the
    # query inline: through the CTE the planner stems every row); only the rows found are stemmed for their rank.
    rows = await db.fetch(
        """
        WITH q AS (SELECT websearch_to_tsquery('english', $2) AS tsq, $3::text AS pattern),
        messages AS (
            SELECT id FROM conversations
            WHERE user_id = $1 AND to_tsvector('english', message) @@ websearch_to_tsquery('english', $2)
            UNION
            SELECT id FROM conversations WHERE user_id = $1 AND message ILIKE $3
        ),
        task_ids AS (
            SELECT id FROM tasks
            WHERE user_id = $1 AND to_tsvector('english', description) @@ websearch_to_tsquery('english', $2)
            UNION
            SELECT id FROM tasks WHERE user_id = $1 AND description ILIKE $3
        ),
        hits AS (
            SELECT 'message' AS kind, c.id, c.replica_id, c.message AS text, c."timestamp" AS at
            FROM conversations c JOIN messages USING (id)
            UNION ALL
            SELECT 'task', t.id, NULL, t.description, t.updated_at FROM tasks t JOIN task_ids USING (id)
        )
        SELECT kind, id, replica_id, text, at,
               (ts_rank(to_tsvector('english', text), q.tsq) + CASE WHEN text ILIKE q.pattern THEN 1 ELSE 0 END)::float8
                   AS score,
               count(*) OVER () AS total
        FROM hits, q ORDER BY score DESC, at DESC, id LIMIT $4
        """,
        user_id,
        query,
        _pattern(query),
        limit,
    )
    total = int(rows[0]["total"]) if rows else 0
    return total, [from_row(Hit, row) for row in rows]
