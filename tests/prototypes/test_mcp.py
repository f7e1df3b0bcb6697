"""MCP prototype over REST: JSON in, JSON out, each step reported on the caller's sockets."""

from __future__ import annotations

import httpx

from ..utils import connect
from .support import act, collect_events, ok, problem, state

ID = "mcp"


async def test_each_tool_returns_deterministic_json(http: httpx.AsyncClient, alice: dict) -> None:
    """Every tool answers its input with the same output each time, and lists the steps it went through."""
    calc = await ok(http, alice, ID, "run_workflow", tool="calculator", input={"expression": "6 * 7"})
    assert calc["output"] == {"expression": "6 * 7", "result": 42} and calc["tool"] == "calculator"
    assert [(s["name"], s["status"]) for s in calc["steps"]] == [
        ("parse_expression", "completed"),
        ("evaluate", "completed"),
    ]
    again = await ok(http, alice, ID, "run_workflow", tool="calculator", input={"expression": "6 * 7"})
    assert again["output"] == calc["output"] and again["run_id"] != calc["run_id"]

    found = await ok(http, alice, ID, "run_workflow", tool="search", input={"query": "voice", "limit": 1})
    assert [r["id"] for r in found["output"]["results"]] == ["voice"]
    summary = await ok(
        http, alice, ID, "run_workflow", tool="summarize", input={"text": "A b. C d.", "max_sentences": 1}
    )
    assert summary["output"]["summary"] == "A b."
    translated = await ok(
        http, alice, ID, "run_workflow", tool="translate", input={"text": "good morning", "target": "de"}
    )
    assert translated["output"]["translation"] == "gut Morgen"

    listed = await state(http, alice, ID)
    assert set(listed["tools"]) == {"search", "summarize", "translate", "calculator"}
    assert [r["tool"] for r in listed["runs"]] == ["translate", "summarize", "search", "calculator", "calculator"]


async def test_bad_tool_or_input_is_422(http: httpx.AsyncClient, alice: dict) -> None:
    """An unknown tool or an input of the wrong shape names the field; an unusable input is tool_failed."""
    body = problem(await act(http, alice, ID, "run_workflow", tool="rm -rf", input={}), 422, "validation_error")
    assert "$.params.tool" in body["detail"]
    body = problem(
        await act(http, alice, ID, "run_workflow", tool="calculator", input={"expression": 7}), 422, "validation_error"
    )
    assert "$.params.input.expression" in body["detail"]
    body = problem(await act(http, alice, ID, "run_workflow", tool="search", input={}), 422, "validation_error")
    assert "query" in body["detail"] and "$.params.input" in body["detail"]
    body = problem(
        await act(http, alice, ID, "run_workflow", tool="calculator", input={"expression": "1/0"}), 422, "tool_failed"
    )
    assert "division by zero" in body["detail"]
    assert (await state(http, alice, ID))["runs"] == []


async def test_steps_are_reported_on_the_owners_socket(
    server: str, http: httpx.AsyncClient, alice: dict, bob: dict
) -> None:
    """Each step is reported running then completed, in order, with the run's id; Bob sees nothing."""
    async with connect(server, alice["access_token"]) as tab, connect(server, bob["access_token"]) as other:
        run = await ok(http, alice, ID, "run_workflow", tool="search", input={"query": "tokens"})
        steps = await collect_events(tab, ID, "step", lambda d: d["index"] == 2 and d["status"] == "completed")
        assert {s["run_id"] for s in steps} == {run["run_id"]}
        assert [(s["index"], s["name"], s["status"]) for s in steps] == [
            (0, "parse_query", "running"),
            (0, "parse_query", "completed"),
            (1, "search_index", "running"),
            (1, "search_index", "completed"),
            (2, "rank_results", "running"),
            (2, "rank_results", "completed"),
        ]
        assert await other.nothing_within(0.3) == []


async def test_a_failing_step_is_reported_failed(server: str, http: httpx.AsyncClient, alice: dict) -> None:
    """When the tool cannot use its input, the step it failed in is reported ``failed``."""
    async with connect(server, alice["access_token"]) as tab:
        await act(http, alice, ID, "run_workflow", tool="calculator", input={"expression": "1/0"})
        steps = await collect_events(tab, ID, "step", lambda d: d["status"] == "failed")
        assert [(s["name"], s["status"]) for s in steps][-2:] == [("evaluate", "running"), ("evaluate", "failed")]
