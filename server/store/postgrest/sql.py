"""PostgREST requests as SQL: every identifier checked against the table's real columns, every value a parameter.

The statements read and write as PostgREST's do: rows come back as one JSON text built by PostgreSQL (``json_agg``),
request bodies go in through ``json_populate_recordset`` (so PostgreSQL converts each value to its column's type),
and a filter's value is cast from text to its column's type, so a bad value is PostgreSQL's own error (22P02).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from .model import (
    Condition,
    Delete,
    Field,
    Insert,
    Order,
    Read,
    Refusal,
    Term,
    Update,
    Write,
)

_COMPARISONS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_PATTERNS = {"like": "LIKE", "ilike": "ILIKE", "match": "~", "imatch": "~*"}
_IS = {"null": "IS NULL", "not_null": "IS NOT NULL", "true": "IS TRUE", "false": "IS FALSE", "unknown": "IS UNKNOWN"}


@dataclass(frozen=True)
class Table:
    """A table as the catalog describes it: its columns (name -> SQL type, in order) and primary key."""

    name: str
    columns: dict[str, str]
    primary_key: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"public.{ident(self.name)}"

    def column(self, name: str) -> str:
        """``name`` quoted and qualified; PostgreSQL's own error (42703) when the table has no such column."""
        if name not in self.columns:
            raise Refusal("42703", f"column {self.name}.{name} does not exist")
        return f"{ident(self.name)}.{ident(name)}"


COLUMNS_SQL = """
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
    coalesce(a.attnum = ANY (i.indkey), false) AS primary_key
FROM pg_attribute a
LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
WHERE a.attrelid = to_regclass('public.' || quote_ident($1)) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
"""The columns of a table in the public schema (no rows when there is no such table)."""


def ident(name: str) -> str:
    """A quoted identifier (names reaching SQL are the catalog's, checked first; quoting keeps them exact)."""
    return '"' + name.replace('"', '""') + '"'


class Statement:
    """SQL being built with its parameters, numbered in order."""

    def __init__(self) -> None:
        self.args: list[object] = []

    def param(self, value: object) -> str:
        self.args.append(value)
        return f"${len(self.args)}"


def _condition(table: Table, term: Condition, statement: Statement) -> str:
    column = table.column(term.column)
    kind = table.columns[term.column]
    value = term.value if isinstance(term.value, str) else ""
    if term.operator in _COMPARISONS:
        sql = f"{column} {_COMPARISONS[term.operator]} CAST({statement.param(value)}::text AS {kind})"
    elif term.operator in _PATTERNS:
        pattern = value.replace("*", "%") if term.operator in ("like", "ilike") else value
        sql = f"{column}::text {_PATTERNS[term.operator]} {statement.param(pattern)}::text"
    elif term.operator == "in":
        sql = f"{column} = ANY (CAST({statement.param(list(term.value))}::text[] AS {kind}[]))"
    elif term.operator == "is":
        sql = f"{column} {_IS[value]}"
    else:  # isdistinct
        sql = f"{column} IS DISTINCT FROM CAST({statement.param(value)}::text AS {kind})"
    return f"NOT ({sql})" if term.negated else sql


def _term(table: Table, term: Term, statement: Statement) -> str:
    if isinstance(term, Condition):
        return _condition(table, term, statement)
    joined = f" {term.operator.upper()} ".join(f"({_term(table, t, statement)})" for t in term.terms) or (
        "true" if term.operator == "and" else "false"
    )
    return f"NOT ({joined})" if term.negated else f"({joined})"


def where(table: Table, terms: Iterable[Term], statement: Statement) -> str:
    """The WHERE clause (all terms must hold), or nothing."""
    parts = [_term(table, term, statement) for term in terms]
    return f" WHERE {' AND '.join(parts)}" if parts else ""


def _order(table: Table, order: Iterable[Order]) -> str:
    parts = []
    for term in order:
        nulls = f" NULLS {term.nulls.upper()}" if term.nulls else ""
        parts.append(f"{table.column(term.column)} {'DESC' if term.descending else 'ASC'}{nulls}")
    return f" ORDER BY {', '.join(parts)}" if parts else ""


def fields(table: Table, select: Iterable[Field], source: str | None = None) -> str:
    """The select list (``*`` is every column, in the table's order), read from ``source`` (default: the table)."""
    prefix = f"{source}." if source else f"{ident(table.name)}."
    parts: list[str] = []
    for field in select:
        if field.column == "*":
            parts.extend(prefix + ident(name) for name in table.columns)
            continue
        table.column(field.column)  # checked
        parts.append(f"{prefix}{ident(field.column)} AS {ident(field.alias or field.column)}")
    return ", ".join(parts) or "NULL"


def _rows_json(single: bool) -> str:
    """The page as PostgREST's JSON: an array, or its one object when the client asked for a single one."""
    return "(json_agg(_pgrst_t) -> 0)::text" if single else "coalesce(json_agg(_pgrst_t), '[]')::text"


def read(table: Table, request: Read) -> tuple[str, list[object]]:
    """One statement answering ``total`` (with ``count``), ``rows`` and ``body``."""
    statement = Statement()
    condition = where(table, request.where, statement)
    page = f"SELECT {fields(table, request.select)} FROM {table.qualified}{condition}{_order(table, request.order)}"
    if request.limit is not None:
        page += f" LIMIT {statement.param(request.limit)}::bigint"
    if request.offset:
        page += f" OFFSET {statement.param(request.offset)}::bigint"
    total = f"(SELECT count(*) FROM {table.qualified}{condition})" if request.count else "NULL::bigint"
    sql = (
        f"SELECT {total} AS total, count(*) AS rows, {_rows_json(request.single)} AS body, NULL::bigint AS inserted"
        f" FROM ({page}) _pgrst_t"
    )
    return sql, statement.args


def _insert(table: Table, request: Insert, statement: Statement) -> str:
    for name in request.columns:
        if name not in table.columns:
            raise Refusal("PGRST204", f"Could not find the '{name}' column of '{table.name}' in the schema cache")
    columns = ", ".join(ident(name) for name in request.columns)
    body = (
        f"json_populate_recordset(NULL::{table.qualified}, CAST({statement.param(_json(request.rows))}::text AS json))"
    )
    if request.columns:
        sql = f"INSERT INTO {table.qualified} ({columns}) SELECT {columns} FROM {body} _pgrst_body"
    else:  # objects without keys: a row of defaults each
        sql = f"INSERT INTO {table.qualified} SELECT FROM {body} _pgrst_body"
    if request.resolution is not None:
        target = request.on_conflict or table.primary_key
        conflict = ", ".join(_named(table, name) for name in target)
        if request.resolution == "ignore-duplicates" or not request.columns:
            sql += f" ON CONFLICT ({conflict}) DO NOTHING"
        else:
            assignments = ", ".join(f"{ident(name)} = EXCLUDED.{ident(name)}" for name in request.columns)
            sql += f" ON CONFLICT ({conflict}) DO UPDATE SET {assignments}"
    return sql + f" RETURNING {ident(table.name)}.*, (xmax = 0) AS _pgrst_inserted"


def _update(table: Table, request: Update, statement: Statement) -> str:
    for name in request.values:
        if name not in table.columns:
            raise Refusal("PGRST204", f"Could not find the '{name}' column of '{table.name}' in the schema cache")
    body = (
        f"json_populate_record(NULL::{table.qualified}, CAST({statement.param(_json(request.values))}::text AS json))"
    )
    assignments = ", ".join(f"{ident(name)} = _pgrst_body.{ident(name)}" for name in request.values)
    return (
        f"UPDATE {table.qualified} SET {assignments} FROM {body} _pgrst_body{where(table, request.where, statement)}"
        f" RETURNING {ident(table.name)}.*, false AS _pgrst_inserted"
    )


def _delete(table: Table, request: Delete, statement: Statement) -> str:
    return (
        f"DELETE FROM {table.qualified}{where(table, request.where, statement)}"
        f" RETURNING {ident(table.name)}.*, false AS _pgrst_inserted"
    )


def write(table: Table, request: Write) -> tuple[str, list[object]]:
    """One statement that changes the rows and answers ``rows``, ``inserted`` and (when asked) ``body``/``total``."""
    statement = Statement()
    if isinstance(request, Insert):
        change = _insert(table, request, statement)
    elif isinstance(request, Update):
        change = _update(table, request, statement)
    else:
        change = _delete(table, request, statement)
    if request.returning is None:
        body = "NULL::text"
    else:
        body = f"(SELECT {_rows_json(request.single)} FROM (SELECT {fields(table, request.returning, '_pgrst_source')}"
        body += " FROM _pgrst_source) _pgrst_t)"
    sql = (
        f"WITH _pgrst_source AS ({change}) SELECT NULL::bigint AS total, count(*) AS rows, {body} AS body,"
        " count(*) FILTER (WHERE _pgrst_inserted) AS inserted FROM _pgrst_source"
    )
    return sql, statement.args


def _named(table: Table, name: str) -> str:
    """``name`` quoted, unqualified (as ON CONFLICT wants it), once checked."""
    table.column(name)
    return ident(name)


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)
