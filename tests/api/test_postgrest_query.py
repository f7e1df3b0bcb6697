"""PostgREST's query grammar, parsed without a server: what supabase-js writes into URLs and headers."""

from __future__ import annotations

import pytest

from server.api.postgrest.query import (
    parse_filter,
    parse_logic,
    parse_order,
    parse_prefer,
    parse_range,
    parse_rows,
    parse_select,
    wants_single,
)
from server.store.postgrest.model import Condition, Field, Logic, Order, Refusal


def refused(code: str, call: object, *args: object) -> Refusal:
    with pytest.raises(Refusal) as caught:
        call(*args)  # type: ignore[operator]
    assert caught.value.code == code
    return caught.value


def test_select_columns_aliases_and_quoted_names() -> None:
    assert parse_select("id, text,done:completed", "tasks") == (
        Field("id"),
        Field("text"),
        Field("completed", "done"),
    )
    assert parse_select('*,"odd name"', "tasks") == (Field("*"), Field("odd name"))
    assert parse_select("", "tasks") == (Field("*"),)
    refused("PGRST200", parse_select, "*,rooms(*)", "tasks")
    refused("PGRST123", parse_select, "count()", "tasks")
    refused("PGRST127", parse_select, "details->a", "tasks")
    refused("PGRST127", parse_select, "id::text", "tasks")
    refused("PGRST100", parse_select, "id,(", "tasks")


def test_filters_with_values_that_look_like_syntax() -> None:
    assert parse_filter("text", "eq.1.5") == Condition("text", "eq", "1.5")
    assert parse_filter("text", 'in.(a,"b,c","d\\"e")') == Condition("text", "in", ("a", "b,c", 'd"e'))
    assert parse_filter("text", "in.()") == Condition("text", "in", ())
    assert parse_filter("text", "not.like.*x*") == Condition("text", "like", "*x*", negated=True)
    assert parse_filter("done", "is.NULL") == Condition("done", "is", "null")
    assert parse_filter("text", "eq.") == Condition("text", "eq", "")
    error = refused("PGRST100", parse_filter, "text", "noop.1")
    assert error.message == '"failed to parse filter (noop.1)" (line 1, column 1)'
    refused("PGRST100", parse_filter, "text", "eq")
    refused("PGRST100", parse_filter, "text", "in.a,b")
    refused("PGRST127", parse_filter, "text", "eq(any).{a,b}")
    refused("PGRST127", parse_filter, "rooms.name", "eq.x")


def test_logic_trees_nest() -> None:
    assert parse_logic("or", '(a.eq.1,and(b.gt.2,c.not.is.null),not.or(d.in.(1,2),e.eq."x,y"))') == Logic(
        "or",
        (
            Condition("a", "eq", "1"),
            Logic("and", (Condition("b", "gt", "2"), Condition("c", "is", "null", negated=True))),
            Logic("or", (Condition("d", "in", ("1", "2")), Condition("e", "eq", "x,y")), negated=True),
        ),
    )
    assert parse_logic("not.and", "(a.eq.1)") == Logic("and", (Condition("a", "eq", "1"),), negated=True)
    refused("PGRST100", parse_logic, "or", "(a.eq.1")
    refused("PGRST100", parse_logic, "or", "a.eq.1")


def test_order() -> None:
    assert parse_order("a,b.desc,c.asc.nullsfirst,d.nullslast") == (
        Order("a"),
        Order("b", descending=True),
        Order("c", nulls="first"),
        Order("d", nulls="last"),
    )
    refused("PGRST100", parse_order, "a.up")


def test_headers() -> None:
    prefer = parse_prefer(["return=representation, count=exact", "resolution=merge-duplicates,missing=default"])
    assert (prefer.representation, prefer.count, prefer.resolution) == (True, "exact", "merge-duplicates")
    assert (
        prefer.applied(mutation=True, insert=True) == "resolution=merge-duplicates, return=representation, count=exact"
    )
    refused("PGRST122", parse_prefer, ["handling=strict, anything"])
    assert parse_range("0-9") == (0, 10)
    assert parse_range("5-") == (5, None)
    assert parse_range("items") is None
    refused("PGRST103", parse_range, "9-1")
    assert wants_single("application/vnd.pgrst.object+json") is True
    assert wants_single("application/json, */*") is False
    assert wants_single(None) is False
    refused("PGRST107", wants_single, "text/csv")


def test_bodies() -> None:
    assert parse_rows(b'{"text": "a"}', None) == ([{"text": "a"}], ("text",))
    assert parse_rows(b"[]", None) == ([], ())
    assert parse_rows(b'[{"a": 1}, {"b": 2}]', ("a", "b")) == ([{"a": 1}, {"b": 2}], ("a", "b"))
    assert refused("PGRST102", parse_rows, b'[{"a": 1}, {"b": 2}]', None).message == "All object keys must match"
    assert refused("PGRST102", parse_rows, b"nope", None).message == "Empty or invalid json"
    refused("PGRST102", parse_rows, b"[1, 2]", None)
