"""The ``replica_briefings`` table: the fingerprint of the context each replica last saw, per asker."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from .bonds import _LIVE
from .memories import _VISIBLE
from .users import Executor


class Inputs(NamedTuple):
    """What a replica's context for one user is made of, and the fingerprint of what it last saw."""

    shared: list[str]
    """Memories of the user's active bonds that include the replica: the newest, oldest first."""
    unlocked: list[tuple[str, str]]
    """(tier, memory) of the replica's memories the user has unlocked, lowest tier first."""
    evolution: tuple[str, int] | None
    """(path, level) the user has evolved the replica to."""
    seen: str | None
    """The fingerprint of the context the replica last saw in its conversation with the asker."""
    tasks: list[tuple[int, str, datetime | None]]
    """(number, description, due_at) of the user's open tasks, due soonest first (none when not asked for)."""


# The bonds, memories and evolutions stores' reads (``bonds.shared_memories``, ``memories.unlocked_for``,
# ``evolutions.get_evolution``), the user's open tasks (due soonest first) and ``last_seen``, as one statement: a
# briefing is one round trip.
_INPUTS = f"""
SELECT
    ARRAY(
        SELECT content FROM (
            SELECT m.content, m.created_at, m.id FROM bond_memories m
            JOIN replica_bonds b ON b.id = m.bond_id
            WHERE b.user_id = $1 AND {_LIVE} AND b.replica_ids @> ARRAY[$2::text]
            ORDER BY m.created_at DESC, m.id DESC LIMIT $3
        ) newest ORDER BY created_at, id
    ) AS shared,
    u.tiers, u.contents, e.path, e.level, t.numbers, t.descriptions, t.dues,
    (SELECT fingerprint FROM replica_briefings WHERE asker = $5 AND replica_id = $2) AS seen
FROM (
    SELECT array_agg(tier ORDER BY rank, created_at, id) AS tiers,
           array_agg(content ORDER BY rank, created_at, id) AS contents
    FROM (
        SELECT m.tier, m.content, t.rank, m.created_at, m.id
        FROM replica_memories m JOIN memory_tiers t ON t.tier = m.tier
        WHERE m.replica_id = $2 AND {_VISIBLE}
        ORDER BY t.rank, m.created_at, m.id LIMIT $4
    ) visible
) u
CROSS JOIN (
    SELECT array_agg(number ORDER BY due_at NULLS LAST, number) AS numbers,
           array_agg(description ORDER BY due_at NULLS LAST, number) AS descriptions,
           array_agg(due_at ORDER BY due_at NULLS LAST, number) AS dues
    FROM (
        SELECT number, description, due_at FROM tasks
        WHERE user_id = $1 AND status <> 'completed'
        ORDER BY due_at NULLS LAST, number LIMIT $6
    ) open_tasks
) t
LEFT JOIN replica_evolutions e ON e.user_id = $1 AND e.replica_id = $2
"""


async def inputs(
    db: Executor,
    asker: str,
    user_id: UUID,
    replica_id: str,
    *,
    shared_limit: int,
    unlocked_limit: int,
    tasks_limit: int = 0,
) -> Inputs:
    """What ``replica_id``'s context for ``user_id`` is made of, and what it last saw with ``asker``: one round
    trip."""
    row = await db.fetchrow(_INPUTS, user_id, replica_id, shared_limit, unlocked_limit, asker, tasks_limit)
    assert row is not None, "one row, whatever the tables hold"
    return Inputs(
        shared=list(row["shared"]),
        unlocked=list(zip(row["tiers"] or [], row["contents"] or [], strict=True)),
        evolution=(row["path"], row["level"]) if row["path"] is not None else None,
        seen=row["seen"],
        tasks=list(zip(row["numbers"] or [], row["descriptions"] or [], row["dues"] or [], strict=True)),
    )


async def last_seen(db: Executor, asker: str, replica_id: str) -> str | None:
    """The fingerprint of the context ``replica_id`` last saw in its conversation with ``asker`` (``None``: none)."""
    seen: str | None = await db.fetchval(
        "SELECT fingerprint FROM replica_briefings WHERE asker = $1 AND replica_id = $2", asker, replica_id
    )
    return seen


async def mark_seen(db: Executor, asker: str, replica_id: str, fingerprint: str) -> None:
    """``replica_id`` has now seen the context with ``fingerprint`` in its conversation with ``asker``."""
    await db.execute(
        """
        INSERT INTO replica_briefings (asker, replica_id, fingerprint) VALUES ($1, $2, $3)
        ON CONFLICT (asker, replica_id) DO UPDATE SET fingerprint = excluded.fingerprint, seen_at = now()
        """,
        asker,
        replica_id,
        fingerprint,
    )
