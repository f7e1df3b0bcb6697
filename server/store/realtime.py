"""What ``/realtime/v1``'s ``postgres_changes`` reads: a changed row as its subscriber may see it, and the columns.

A row is read back inside a transaction acting as the subscriber (role and ``request.jwt.claims``), so the table's
row-level-security policies decide who hears of it, as Supabase's walrus decides by the same policies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final
from uuid import UUID

import asyncpg

from .claims import acting_as

_READ: Final = {
    "tasks": "SELECT to_jsonb(t) FROM tasks t WHERE t.id = $1",
    "prototype_interactions": "SELECT to_jsonb(p) FROM prototype_interactions p WHERE p.id = $1",
}
_COLUMNS: Final = """
SELECT a.attname AS name, t.typname AS type
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


async def read_as(pool: asyncpg.Pool, table: str, row_id: UUID, claims: Mapping[str, Any]) -> dict[str, Any] | None:
    """The row as JSON (PostgreSQL's ``to_jsonb``) if the claims' owner may select it, else ``None``."""
    async with acting_as(pool, claims) as conn:
        value = await conn.fetchval(_READ[table], row_id)
    if isinstance(value, str):  # a pool without the JSON codec
        value = json.loads(value)
    return value if isinstance(value, dict) else None


async def columns(pool: asyncpg.Pool, table: str) -> list[dict[str, str]]:
    """``[{"name", "type"}]`` of a table, in order: what Realtime sends beside each change."""
    rows = await pool.fetch(_COLUMNS, f"public.{table}")
    return [{"name": row["name"], "type": row["type"]} for row in rows]
