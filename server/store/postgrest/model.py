"""What a PostgREST request asks of a table, parsed (by ``server/api/postgrest``) but not yet checked against it.

Identifiers here are the client's words: the SQL builder checks each against the table's real columns, and values
only ever travel as query parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Operator = Literal["eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch", "in", "is", "isdistinct"]
OPERATORS: tuple[Operator, ...] = (
    "eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch", "in", "is", "isdistinct",
)  # fmt: skip
IsValue = Literal["null", "not_null", "true", "false", "unknown"]


@dataclass(frozen=True)
class Condition:
    """``column=[not.]operator.value``; ``value`` is a tuple for ``in``, an :data:`IsValue` for ``is``."""

    column: str
    operator: Operator
    value: str | tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True)
class Logic:
    """``or=(…)`` / ``and=(…)`` (and ``not.or``), nesting conditions and further logic."""

    operator: Literal["and", "or"]
    terms: tuple[Condition | Logic, ...]
    negated: bool = False


Term = Condition | Logic


@dataclass(frozen=True)
class Order:
    column: str
    descending: bool = False
    nulls: Literal["first", "last"] | None = None


@dataclass(frozen=True)
class Field:
    """One item of ``select``: a column, possibly renamed (``alias:column``)."""

    column: str
    alias: str | None = None


STAR: tuple[Field, ...] = (Field("*"),)


@dataclass(frozen=True)
class Read:
    """GET/HEAD: which rows (``where``, ``order``, ``limit``/``offset``) and which columns (``select``)."""

    table: str
    select: tuple[Field, ...] = STAR
    where: tuple[Term, ...] = ()
    order: tuple[Order, ...] = ()
    limit: int | None = None
    offset: int = 0
    count: bool = False
    single: bool = False


Resolution = Literal["merge-duplicates", "ignore-duplicates"]


@dataclass(frozen=True)
class Insert:
    """POST: ``rows`` (JSON objects) into ``columns`` (the ``columns`` parameter, else the first row's keys)."""

    table: str
    rows: list[dict[str, object]]
    columns: tuple[str, ...]
    on_conflict: tuple[str, ...] | None = None
    resolution: Resolution | None = None
    returning: tuple[Field, ...] | None = None
    """``None``: Prefer return=minimal (nothing is read back)."""
    count: bool = False
    single: bool = False


@dataclass(frozen=True)
class Update:
    """PATCH: set ``values`` on the rows ``where`` selects."""

    table: str
    values: dict[str, object]
    where: tuple[Term, ...] = ()
    returning: tuple[Field, ...] | None = None
    count: bool = False
    single: bool = False


@dataclass(frozen=True)
class Delete:
    table: str
    where: tuple[Term, ...] = ()
    returning: tuple[Field, ...] | None = None
    count: bool = False
    single: bool = False


Write = Insert | Update | Delete


@dataclass(frozen=True)
class Outcome:
    """What the database answered: the rows as PostgREST's JSON text (``body``), how many, and the total."""

    body: str
    rows: int
    total: int | None = None
    inserted: int | None = None


class Refusal(Exception):
    """A request the database (``code`` a SQLSTATE) or the PostgREST layer (``code`` PGRSTnnn) refused, in
    PostgREST's error body: ``code``, ``message``, ``details``, ``hint``."""

    def __init__(self, code: str, message: str, details: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint
