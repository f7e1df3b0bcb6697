"""PostgREST's answers over our tables, acting as the caller so the row-level-security policies decide (``/rest/v1``).

The request is parsed by ``server/api/postgrest``; here it becomes one parameterised statement per request, run in a
transaction under the caller's role and JWT claims (:func:`server.store.claims.acting_as`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ..claims import acting_as
from ..errors import outage
from .model import Outcome, Read, Refusal, Write
from .sql import COLUMNS_SQL, Table, read, write

EXPOSED_TABLES = ("tasks", "conversations", "prototype_interactions")
"""The seed's tables a front end reads (and, for ``tasks``, writes) through supabase-js; the policies decide whose
rows. Everything else (rooms, ledgers, sessions, ...) is reached through the hub's own API only."""


async def _table(conn: asyncpg.Connection | PoolConnectionProxy, name: str) -> Table:
    rows = await conn.fetch(COLUMNS_SQL, name) if name in EXPOSED_TABLES else []
    if not rows:
        raise Refusal("PGRST205", f"Could not find the table 'public.{name}' in the schema cache")
    return Table(
        name,
        {row["name"]: row["type"] for row in rows},
        tuple(row["name"] for row in rows if row["primary_key"]),
    )


async def run(
    db: asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy, claims: Mapping[str, Any], request: Read | Write
) -> Outcome:
    """Answer ``request`` as the holder of ``claims``; :class:`Refusal` with PostgreSQL's or PostgREST's code.

    A request for a single object that finds another number of rows is refused, and a change it made undone.
    A database outage is not a refusal: asyncpg's error goes up as it is (the app answers 503).
    """
    try:
        async with acting_as(db, claims) as conn:
            table = await _table(conn, request.table)
            sql, args = read(table, request) if isinstance(request, Read) else write(table, request)
            row = await conn.fetchrow(sql, *args)
            assert row is not None
            if request.single and row["rows"] != 1:
                raise Refusal(
                    "PGRST116",
                    "Cannot coerce the result to a single JSON object",
                    f"The result contains {row['rows']} rows",
                )
            return Outcome(row["body"] or "", row["rows"], row["total"], row["inserted"])
    except asyncpg.PostgresError as exc:
        if outage(exc) is not None:
            raise
        raise Refusal(exc.sqlstate or "XX000", exc.message, exc.detail, exc.hint) from None


__all__ = ["EXPOSED_TABLES", "Outcome", "Refusal", "run"]
