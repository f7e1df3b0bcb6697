"""PostgREST's query string, Prefer and Accept headers and bodies, parsed into :mod:`server.store.postgrest.model`.

Pure: no I/O. Grammar as PostgREST's (``src/library/PostgREST/ApiRequest/QueryParams.hs``): ``select=a,b:c``,
``col=[not.]op.value``, ``or=(a.eq.1,and(b.gt.2,c.is.null))``, ``order=a.desc.nullslast``, ``limit``, ``offset``,
``on_conflict``, ``columns``. What PostgREST has and this hub does not (embedding, casts, JSON paths, full-text
operators, aggregates) is refused with PostgREST's code for it, never misread.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

from ...tables import (
    OPERATORS,
    Condition,
    Field,
    Logic,
    Operator,
    Order,
    Refusal,
    Resolution,
    Term,
)

RESERVED = frozenset({"select", "order", "limit", "offset", "on_conflict", "columns", "or", "and", "not.or", "not.and"})
IGNORED = frozenset({"apikey"})
"""The gateway's: supabase-js may send the key in the query string."""

UNSUPPORTED_OPERATORS = frozenset(
    {"cs", "cd", "ov", "sl", "sr", "nxl", "nxr", "adj", "fts", "plfts", "phfts", "wfts", "isdistinct_any"}
)
_IS_VALUES = ("null", "not_null", "true", "false", "unknown")
_NAME = re.compile(r'^(?:"(?:[^"\\]|\\.)+"|[^\s.,:()"!]+)$')
SINGLE_OBJECT = "application/vnd.pgrst.object+json"


def qp_error(what: str, text: str, details: str) -> Refusal:
    """PostgREST's PGRST100, worded as its parser words it."""
    return Refusal("PGRST100", f'"failed to parse {what} ({text})" (line 1, column 1)', details)


def _unquote(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return re.sub(r"\\(.)", r"\1", name[1:-1])
    return name


def _split(text: str, what: str) -> list[str]:
    """Split at top-level commas (not inside parentheses or double quotes)."""
    parts, depth, quoted, current = [], 0, False, []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
            continue
        if char == "\\" and quoted:
            current.append(char)
            escaped = True
            continue
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth < 0:
                raise qp_error(what, text, 'unexpected ")"')
        if char == "," and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth or quoted:
        raise qp_error(what, text, "unexpected end of input")
    parts.append("".join(current))
    return parts


def _column(name: str, what: str, text: str) -> str:
    name = name.strip()
    if "->" in name:
        raise Refusal("PGRST127", "Feature not implemented", "JSON paths (->, ->>) are not served by this hub")
    if not name or not _NAME.match(name):
        raise qp_error(what, text, f'unexpected "{name[:1] or " "}" expecting field name (* or [a..z0..9_$])')
    return _unquote(name)


def parse_select(text: str, table: str) -> tuple[Field, ...]:
    """``select``: ``*``, ``col``, ``alias:col``; an embedding is a relationship this hub does not have (PGRST200)."""
    if not text.strip():
        return (Field("*"),)
    fields = []
    for raw in _split(text, "select parameter"):
        item = raw.strip()
        if item == "*":
            fields.append(Field("*"))
            continue
        alias, sep, rest = item.partition(":")
        if not sep or rest.startswith(":"):
            alias, rest = "", item
        if rest.endswith(")") and "(" in rest:
            target = rest[: rest.index("(")]
            if target in ("count", "") or target.endswith((".count", ".sum", ".avg", ".min", ".max")):
                raise Refusal("PGRST123", "Use of aggregate functions is not allowed")
            relation = target.lstrip(".").partition("!")[0]
            raise Refusal(
                "PGRST200",
                f"Could not find a relationship between '{table}' and '{relation}' in the schema cache",
                f"Searched for a foreign key relationship between '{table}' and '{relation}' in the schema "
                "'public', but no matches were found.",
            )
        if "::" in rest:
            raise Refusal("PGRST127", "Feature not implemented", "casts in select (::type) are not served by this hub")
        column = _column(rest, "select parameter", text)
        fields.append(Field(column, _column(alias, "select parameter", text) if alias else None))
    return tuple(fields)


def _operation(column: str, text: str, what: str, whole: str) -> Condition:
    """``[not.]op.value`` for ``column``."""
    negated = text.startswith("not.")
    rest = text[4:] if negated else text
    operator, dot, value = rest.partition(".")
    if "(" in operator and operator.endswith(")"):  # eq(any), like(all): quantifiers
        raise Refusal("PGRST127", "Feature not implemented", f"operator {operator} is not served by this hub")
    if operator in UNSUPPORTED_OPERATORS:
        raise Refusal("PGRST127", "Feature not implemented", f"operator {operator} is not served by this hub")
    if operator not in OPERATORS or not dot:
        raise qp_error(what, whole, 'unexpected "' + (rest[:1] or " ") + '" expecting "not" or operator (eq, gt, ...)')
    op: Operator = operator  # narrowed by the check against OPERATORS
    if op == "in":
        if not (value.startswith("(") and value.endswith(")")):
            raise qp_error(what, whole, 'unexpected end of input expecting "("')
        inner = value[1:-1]
        items = [] if not inner.strip() else [_unquote(item.strip()) for item in _split(inner, what)]
        return Condition(column, op, tuple(items), negated)
    if op == "is":
        if value.lower() not in _IS_VALUES:
            raise qp_error(what, whole, 'unexpected "' + value[:1] + '" expecting null or trilean value')
        return Condition(column, op, value.lower(), negated)
    return Condition(column, op, _unquote(value), negated)


def parse_filter(column: str, text: str) -> Condition:
    """A filter parameter: ``column=[not.]op.value``."""
    if "." in column or "->" in column:
        raise Refusal(
            "PGRST127", "Feature not implemented", "filters on embedded resources or JSON paths are not served"
        )
    return _operation(_column(column, "filter", text), text, "filter", text)


def _logic_terms(text: str, whole: str) -> tuple[Term, ...]:
    if not (text.startswith("(") and text.endswith(")")):
        raise qp_error("logic tree", whole, 'unexpected end of input expecting "("')
    terms: list[Term] = []
    for raw in _split(text[1:-1], "logic tree"):
        item = raw.strip()
        negated = item.startswith("not.")
        body = item[4:] if negated else item
        for operator in ("and", "or"):
            if body.startswith(operator + "("):
                terms.append(Logic(operator, _logic_terms(body[len(operator) :], whole), negated))
                break
        else:
            column, dot, operation = item.partition(".")
            if not dot:
                raise qp_error("logic tree", whole, 'unexpected end of input expecting "."')
            terms.append(_operation(_column(column, "logic tree", whole), operation, "logic tree", whole))
    return tuple(terms)


def parse_logic(key: str, text: str) -> Logic:
    """``or=(…)``, ``and=(…)``, ``not.or=(…)``, ``not.and=(…)``."""
    negated = key.startswith("not.")
    operator = key[4:] if negated else key
    return Logic("or" if operator == "or" else "and", _logic_terms(text.strip(), text), negated)


def parse_order(text: str) -> tuple[Order, ...]:
    """``order=col[.asc|.desc][.nullsfirst|.nullslast],…``."""
    terms = []
    for raw in _split(text, "order"):
        parts = raw.strip().split(".")
        column, modifiers = parts[0], parts[1:]
        descending, nulls = False, None
        if len(modifiers) > 2:
            raise qp_error("order", text, 'unexpected "." expecting "," or end of input')
        for modifier in modifiers:
            if modifier in ("asc", "desc") and nulls is None:
                descending = modifier == "desc"
            elif modifier in ("nullsfirst", "nullslast"):
                nulls = "first" if modifier == "nullsfirst" else "last"
            else:
                raise qp_error("order", text, f'unexpected "{modifier[:1]}" expecting "asc", "desc", "nullsfirst"')
        terms.append(Order(_column(column, "order", text), descending, nulls))  # type: ignore[arg-type]
    return tuple(terms)


def parse_columns(text: str, what: str) -> tuple[str, ...]:
    """``columns`` / ``on_conflict``: a list of column names."""
    return tuple(_column(name, what, text) for name in _split(text, what))


def _count(text: str, what: str) -> int:
    if not (text.isascii() and text.isdigit()):  # "³" is a digit that int() refuses
        raise qp_error(what, text, f"{what} must be a non-negative integer")
    return int(text)


@dataclass
class Query:
    """The query string of one request."""

    select: tuple[Field, ...] | None = None
    where: list[Term] = field(default_factory=list)
    order: tuple[Order, ...] = ()
    limit: int | None = None
    offset: int = 0
    on_conflict: tuple[str, ...] | None = None
    columns: tuple[str, ...] | None = None


def parse_query(params: Iterable[tuple[str, str]], table: str) -> Query:
    query = Query()
    for key, value in params:
        if key in IGNORED:
            continue
        if key == "select":
            query.select = parse_select(value, table)
        elif key == "order":
            query.order = parse_order(value)
        elif key == "limit":
            query.limit = _count(value, "limit")
        elif key == "offset":
            query.offset = _count(value, "offset")
        elif key == "on_conflict":
            query.on_conflict = parse_columns(value, "on_conflict parameter")
        elif key == "columns":
            query.columns = parse_columns(value, "columns parameter")
        elif key in ("or", "and", "not.or", "not.and"):
            query.where.append(parse_logic(key, value))
        else:
            query.where.append(parse_filter(key, value))
    return query


def parse_range(header: str | None) -> tuple[int, int | None] | None:
    """``Range: first-[last]`` (items) as (offset, limit); ``None`` when absent or not a range PostgREST reads."""
    match = re.fullmatch(r"\s*(\d+)-(\d*)\s*", header or "")
    if match is None:
        return None
    first = int(match[1])
    if not match[2]:
        return first, None
    last = int(match[2])
    if last < first:
        raise Refusal(
            "PGRST103",
            "Requested range not satisfiable",
            "The lower boundary must be lower than or equal to the upper boundary in the Range header.",
        )
    return first, last - first + 1


@dataclass(frozen=True)
class Prefer:
    """The ``Prefer`` header: what PostgREST applies, and what it echoes in ``Preference-Applied``."""

    representation: bool = False
    count: str | None = None
    resolution: Resolution | None = None
    invalid: tuple[str, ...] = ()

    def applied(self, *, mutation: bool, insert: bool) -> str | None:
        parts = []
        if insert and self.resolution:
            parts.append(f"resolution={self.resolution}")
        if mutation:
            parts.append("return=representation" if self.representation else "return=minimal")
        if self.count:
            parts.append(f"count={self.count}")
        return ", ".join(parts) or None


def parse_prefer(values: Iterable[str]) -> Prefer:
    """Every ``Prefer`` header, comma-separated tokens; what is unknown is ignored (``handling=lenient``)."""
    representation, count, resolution, invalid = False, None, None, []
    for value in values:
        for token in (t.strip() for t in value.split(",")):
            if token in ("return=representation", "return=minimal", "return=headers-only"):
                representation = token == "return=representation"
            elif token in ("count=exact", "count=planned", "count=estimated"):
                count = token.partition("=")[2]
            elif token in ("resolution=merge-duplicates", "resolution=ignore-duplicates"):
                resolution = cast(Resolution, token.partition("=")[2])
            elif token:
                invalid.append(token)
    if "handling=strict" in invalid:
        others = [t for t in invalid if t != "handling=strict" and not t.startswith(("tx=", "missing=", "timezone="))]
        if others:
            raise Refusal(
                "PGRST122",
                "Invalid preferences given with handling=strict",
                "Invalid preferences: " + ", ".join(others),
            )
    return Prefer(representation, count, resolution, tuple(invalid))


def wants_single(accept: str | None) -> bool:
    """Whether ``Accept`` asks for one object; 406 (PGRST107) for a type PostgREST has and this hub does not."""
    if not accept:
        return False
    types = [part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()]
    for media in types:
        if media == SINGLE_OBJECT:
            return True
        if media in ("application/json", "*/*", "application/*"):
            return False
    raise Refusal("PGRST107", "None of these media types are available: " + ", ".join(types))


def parse_rows(raw: bytes, columns: tuple[str, ...] | None) -> tuple[list[dict[str, object]], tuple[str, ...]]:
    """A POST body: one object or an array of objects with the same keys (or any keys, given ``columns``)."""
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        body = None
    if body is None:
        raise Refusal("PGRST102", "Empty or invalid json")
    rows = body if isinstance(body, list) else [body]
    if not all(isinstance(row, dict) for row in rows):
        raise Refusal("PGRST102", "All object keys must match")
    if columns is not None:
        return rows, columns
    keys = tuple(rows[0]) if rows else ()
    if any(set(row) != set(keys) for row in rows):
        raise Refusal("PGRST102", "All object keys must match")
    return rows, keys


def parse_values(raw: bytes) -> dict[str, object]:
    """A PATCH body: one object."""
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Refusal("PGRST102", "Empty or invalid json")
    return body
