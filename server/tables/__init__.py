"""supabase-js's database API (``/rest/v1``) as a service: a parsed PostgREST request answered as its caller.

``server/api/postgrest`` parses the request into :mod:`the model <server.store.postgrest.model>` (re-exported
here: it is this service's language); :class:`Tables` runs it in the database under the caller's role and claims,
so the row-level-security policies decide (``server.store.postgrest``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from ..store import postgrest
from ..store.postgrest.model import (
    OPERATORS,
    STAR,
    Condition,
    Delete,
    Field,
    Insert,
    Logic,
    Operator,
    Order,
    Outcome,
    Read,
    Refusal,
    Resolution,
    Term,
    Update,
    Write,
)

__all__ = [
    "OPERATORS",
    "STAR",
    "Condition",
    "Delete",
    "Field",
    "Insert",
    "Logic",
    "Operator",
    "Order",
    "Outcome",
    "Read",
    "Refusal",
    "Resolution",
    "Tables",
    "Term",
    "Update",
    "Write",
]


class Tables:
    """The seed's tables a front end reaches through supabase-js (``server.store.postgrest.EXPOSED_TABLES``)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def answer(self, claims: Mapping[str, Any], request: Read | Write) -> Outcome:
        """Answer ``request`` as the holder of ``claims``; :class:`Refusal` with PostgreSQL's or PostgREST's code."""
        return await postgrest.run(self.pool, claims, request)
