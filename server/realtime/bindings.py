"""``postgres_changes`` bindings: what a channel asks for at join, and whether a change matches. Sans-I/O.

A binding is ``{"event": "*"|"INSERT"|"UPDATE"|"DELETE", "schema": "public", "table": ..., "filter": ...}``, the
filter written as Realtime takes it: ``column=op.value`` with ``eq``, ``neq``, ``lt``, ``lte``, ``gt``, ``gte``,
``in`` (``in.(a,b)``), ``is`` (``null``/``true``/``false``), ``like`` and ``ilike``, each negated by a ``not.``
prefix, several joined by commas (all must hold). As on Supabase, a DELETE carries only the primary key, so
filters on other columns cannot hold it back.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from ..feed.base import TABLES

EVENTS: Final = ("*", "INSERT", "UPDATE", "DELETE")
OPERATORS: Final = ("eq", "neq", "lt", "lte", "gt", "gte", "in", "is", "like", "ilike")
SCHEMA: Final = "public"
_FILTER = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(not\.)?([a-z]+)\.(.*)$", re.S)


class BindingError(ValueError):
    """A binding Realtime would refuse; the message is what it says in its ``system`` error."""


@dataclass(frozen=True, slots=True)
class Condition:
    column: str
    op: str
    value: str
    negate: bool

    def holds(self, row: Mapping[str, Any]) -> bool:
        if self.column not in row:
            return False
        return self._test(row[self.column]) != self.negate

    def _test(self, actual: Any) -> bool:
        if self.op == "is":
            expected = {"null": None, "true": True, "false": False}[self.value.lower()]
            return actual is expected
        if actual is None:
            return False
        if self.op in ("eq", "neq"):
            return (_text(actual) == self.value) == (self.op == "eq")
        if self.op == "in":
            return _text(actual) in _list(self.value)
        if self.op in ("like", "ilike"):
            pattern = "^" + ".*".join(re.escape(part) for part in self.value.replace("*", "%").split("%")) + "$"
            return re.match(pattern, _text(actual), re.S | (re.I if self.op == "ilike" else 0)) is not None
        left, right = _ordered(actual, self.value)
        outcome: bool = {"lt": left < right, "lte": left <= right, "gt": left > right, "gte": left >= right}[self.op]
        return outcome


def _text(value: Any) -> str:
    """A JSON value as PostgreSQL prints it in a filter (``true``, ``3``, ``abc``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _list(value: str) -> list[str]:
    inner = value.strip()
    if inner.startswith("(") and inner.endswith(")"):
        inner = inner[1:-1]
    return [item.strip().strip('"') for item in inner.split(",")]


def _ordered(actual: Any, expected: str) -> tuple[Any, Any]:
    if isinstance(actual, int | float) and not isinstance(actual, bool):
        try:
            return actual, float(expected)
        except ValueError:
            pass
    return _text(actual), expected


def parse_filter(text: str) -> tuple[Condition, ...]:
    """The conditions of a filter string; :class:`BindingError` as Realtime words it."""
    conditions = []
    for part in _split_keeping_lists(text):
        match = _FILTER.match(part.strip())
        if match is None or match.group(3) not in OPERATORS:
            raise BindingError(f"Error parsing `filter` params: {part.strip()!r}")
        column, negated, op, value = match.groups()
        if op == "is" and value.lower() not in ("null", "true", "false"):
            raise BindingError(f"Error parsing `filter` params: {part.strip()!r}")
        conditions.append(Condition(column, op, value, negated is not None))
    return tuple(conditions)


def _split_keeping_lists(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


Op = Literal["INSERT", "UPDATE", "DELETE"]


@dataclass(frozen=True, slots=True)
class Binding:
    """One ``postgres_changes`` binding of a joined channel, with the id the client matches events by."""

    id: int
    params: dict[str, Any]
    event: str
    table: str
    conditions: tuple[Condition, ...]

    def wants(self, table: str, op: Op) -> bool:
        return self.table in ("*", table) and self.event in ("*", op)

    def matches(self, op: Op, record: Mapping[str, Any] | None, old_record: Mapping[str, Any] | None) -> bool:
        """Whether a change the subscriber may see passes the filter (a DELETE's key-only old row passes filters
        on columns it lacks)."""
        if op == "DELETE":
            row = old_record or {}
            return all(c.holds(row) for c in self.conditions if c.column in row)
        return all(c.holds(record or {}) for c in self.conditions)

    def echo(self) -> dict[str, Any]:
        """The binding as the join reply returns it: what the client sent, plus ``id``."""
        return {**self.params, "id": self.id}


def binding_id(params: Mapping[str, Any]) -> int:
    """A stable, non-zero id per binding, like Realtime's ``:erlang.phash2(params)`` (realtime-py skips id 0)."""
    return zlib.crc32(json.dumps(params, sort_keys=True, default=str).encode()) & 0x7FFFFFF or 1


def parse_binding(params: object) -> Binding:
    """A binding from the join payload; :class:`BindingError` with Realtime's wording when it is unusable."""
    if not isinstance(params, dict):
        raise BindingError("No subscription params provided. Please provide at least a `schema` or `table`")
    event = params.get("event", "*")
    schema = params.get("schema", SCHEMA)
    table = params.get("table", "*")
    text = params.get("filter")
    if not isinstance(event, str) or event.upper() not in EVENTS:
        raise BindingError(f"Unable to subscribe to changes with given parameters: unknown event {event!r}")
    if not isinstance(schema, str) or not isinstance(table, str) or (text is not None and not isinstance(text, str)):
        raise BindingError("Unable to subscribe to changes with given parameters: schema, table and filter are text")
    if schema not in ("*", SCHEMA) or table not in ("*", *TABLES):
        raise BindingError(
            "Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given "
            f"connect parameters: [event: {event}, schema: {schema}, table: {table}, filters: {text or '[]'}]"
        )
    conditions = parse_filter(text) if text else ()
    return Binding(binding_id(params), dict(params), event.upper(), table, conditions)
