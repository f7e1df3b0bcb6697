"""The MCP prototype's workflows: tools chained (each step's output feeds the next), real steps, failed runs kept."""

from __future__ import annotations

import httpx

from server.sensay.local import SOCRATES_UUID

from ..conftest import bearer
from ..utils import connect
from .support import act, collect_events, ok, problem, state

ID = "mcp"


async def test_a_workflow_chains_tools_and_reports_each_real_step(
    server: str, http: httpx.AsyncClient, alice: dict, bob: dict
) -> None:
    """search Alice's own tasks → summarize the top snippet → ask Socrates about the summary → add a task named by
    the answer: every step runs (Alice's chat and task list show it), and each is reported running then
    completed."""
    seed = "Replicas remember conversations, so each answer builds on the last. Ask one what it recalls."
    created = await http.post("/api/tasks", json={"description": seed}, headers=bearer(alice))
    assert created.status_code == 201, created.text
    steps = [
        {"tool": "search", "input": {"query": "remembering", "limit": 1}},
        {"tool": "summarize", "input": {"text": "$prev.results.0.snippet", "max_sentences": 1}},
        {"tool": "ask_replica", "input": {"question": "$prev.summary", "replica_id": SOCRATES_UUID}},
        {"tool": "add_task", "input": {"description": "$steps.1.summary"}},
    ]
    async with connect(server, alice["access_token"]) as tab, connect(server, bob["access_token"]) as other:
        result = await ok(http, alice, ID, "run_workflow", steps=steps)
        events = await collect_events(tab, ID, "step", lambda e: e["index"] == 3 and e["status"] != "running")
        assert await other.nothing_within(0.3) == []
    assert [(e["index"], e["status"]) for e in events] == [(i, s) for i in range(4) for s in ("running", "completed")]
    summary = result["steps"][1]["output"]["summary"]
    assert summary.startswith("Replicas remember conversations")
    assert (
        result["steps"][2]["input"]["question"] == summary and "Socrates asks" in result["steps"][2]["output"]["answer"]
    )
    assert result["output"]["task"]["description"] == summary
    assert [t["description"] for t in (await http.get("/api/tasks", headers=bearer(alice))).json()["tasks"]] == [
        seed,
        summary,
    ]
    runs = (await state(http, alice, ID))["runs"]
    assert runs[0]["run_id"] == result["run_id"] and runs[0]["status"] == "completed"


async def test_a_one_tool_workflow_still_works(http: httpx.AsyncClient, alice: dict) -> None:
    """{tool, input} runs one step: the calculator answers deterministic JSON."""
    result = await ok(http, alice, ID, "run_workflow", tool="calculator", input={"expression": "2 ** 10 - 24"})
    assert result["output"] == {"expression": "2 ** 10 - 24", "result": 1000}


async def test_a_failed_run_is_kept_with_its_failed_step(server: str, http: httpx.AsyncClient, alice: dict) -> None:
    """A step that fails ends the run: 422 tool_failed naming the step and the run_id; the run is kept as failed
    with the steps that completed before it, and the socket saw the step fail."""
    steps = [
        {"tool": "calculator", "input": {"expression": "6 * 7"}},
        {"tool": "calculator", "input": {"expression": "1 / 0"}},
        {"tool": "add_task", "input": {"description": "never"}},
    ]
    async with connect(server, alice["access_token"]) as tab:
        answer = await act(http, alice, ID, "run_workflow", steps=steps)
        body = problem(answer, 422, "tool_failed")
        events = await collect_events(tab, ID, "step", lambda e: e["status"] == "failed")
    assert "step 1 (calculator)" in body["detail"] and "division by zero" in body["detail"]
    assert events[-1]["index"] == 1
    [run] = (await state(http, alice, ID))["runs"]
    assert run["run_id"] == body["run_id"] and run["status"] == "failed"
    assert [(s["index"], s["status"]) for s in run["steps"]] == [(0, "completed"), (1, "failed")]
    assert (await http.get("/api/tasks", headers=bearer(alice))).json()["tasks"] == []


async def test_bad_workflows_are_422(http: httpx.AsyncClient, alice: dict) -> None:
    """An unknown tool, a reference to no earlier step, or a bad input answer 422 before or at the step."""
    problem(await act(http, alice, ID, "run_workflow", tool="teleport", input={}), 422, "validation_error")
    refs = [{"tool": "summarize", "input": {"text": "$steps.3.summary"}}]
    assert "names no earlier step" in problem(await act(http, alice, ID, "run_workflow", steps=refs), 422,
                                              "validation_error")["detail"]  # fmt: skip
    bad = [{"tool": "calculator", "input": {"expression": 5}}]
    problem(await act(http, alice, ID, "run_workflow", steps=bad), 422, "validation_error")
