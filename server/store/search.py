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
    rows = await db.fetch(
        """
        WITH q AS (SELECT websearch_to_tsquery('english', $2) AS tsq, $3::text AS pattern),
        hits AS (
            SELECT 'message' AS kind, c.id, c.replica_id, c.message AS text, c."timestamp" AS at,
                   ts_rank(to_tsvector('english', c.message), q.tsq)
                   + CASE WHEN c.message ILIKE q.pattern THEN 1 ELSE 0 END AS score
            FROM conversations c, q
            WHERE c.user_id = $1 AND (to_tsvector('english', c.message) @@ q.tsq OR c.message ILIKE q.pattern)
            UNION ALL
            SELECT 'task', t.id, NULL, t.description, t.updated_at,
                   ts_rank(to_tsvector('english', t.description), q.tsq)
                   + CASE WHEN t.description ILIKE q.pattern THEN 1 ELSE 0 END
            FROM tasks t, q
            WHERE t.user_id = $1 AND (to_tsvector('english', t.description) @@ q.tsq OR t.description ILIKE q.pattern)
        )
        SELECT kind, id, replica_id, text, at, score::float8 AS score, count(*) OVER () AS total
        FROM hits ORDER BY score DESC, at DESC, id LIMIT $4
        """,
        user_id,
        query,
        _pattern(query),
        limit,
    )
    total = int(rows[0]["total"]) if rows else 0
    return total, [from_row(Hit, row) for row in rows]
