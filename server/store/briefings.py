"""The ``replica_briefings`` table: the fingerprint of the context each replica last saw, per asker."""

from __future__ import annotations

from .users import Executor


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
