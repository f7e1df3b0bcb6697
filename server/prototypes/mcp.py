"""MCP client/server: run one tool of a mock workflow, JSON in and JSON out, reporting each step as it goes."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID, uuid4

import msgspec

from protocol import PrototypeEventFrame

from ..errors import ToolFailed
from ..store import interactions
from .base import Action, Context, Outcome, Prototype, convert
from .mcp_tools import TOOLS, ToolError, ToolName

ID = "mcp"
StepStatus = Literal["running", "completed", "failed"]


class RunWorkflowParams(msgspec.Struct, forbid_unknown_fields=True):
    tool: ToolName
    input: dict[str, Any] = {}


async def run_workflow(ctx: Context, user_id: UUID, params: RunWorkflowParams) -> Outcome:
    """Run a tool on a JSON input; each step is reported as a `step` event, the output comes back as JSON."""
    tool = TOOLS[params.tool]
    tool_input = convert(params.input, tool.input, "params.input")
    run_id = uuid4()
    steps: list[dict[str, Any]] = []
    output: dict[str, Any] = {}
    for index, name in enumerate(tool.steps):
        await _step(ctx, user_id, run_id, index, name, "running")
        if index == len(tool.steps) - 1:  # the steps before are the tool's stages, narrated
            try:
                output = tool.run(tool_input)
            except ToolError as exc:
                await _step(ctx, user_id, run_id, index, name, "failed")
                raise ToolFailed(f"{params.tool}: {exc}") from None
        await _step(ctx, user_id, run_id, index, name, "completed")
        steps.append({"index": index, "name": name, "status": "completed"})
    details = {"run_id": run_id, "tool": params.tool, "input": params.input, "output": output}
    interaction = await interactions.record(ctx.pool, user_id, ID, "run_workflow", details)
    return Outcome({"run_id": run_id, "tool": params.tool, "steps": steps, "output": output}, interaction)


async def _step(ctx: Context, user_id: UUID, run_id: UUID, index: int, name: str, status: StepStatus) -> None:
    data = {"run_id": str(run_id), "index": index, "name": name, "status": status}
    await ctx.hub.send_to_user(user_id, PrototypeEventFrame(prototype=ID, event="step", data=data))


async def state(ctx: Context, user_id: UUID) -> dict[str, Any]:
    """The tools with their input schemas, and the user's latest runs."""
    runs = await interactions.list_recent(ctx.pool, user_id, ID, limit=20)
    return {
        "tools": {
            name: {"summary": tool.summary, "steps": list(tool.steps), "input": msgspec.json.schema(tool.input)}
            for name, tool in TOOLS.items()
        },
        "runs": [{**run.details, "created_at": run.created_at} for run in runs],
    }


PROTOTYPE = Prototype(
    id=ID,
    name="MCP client/server",
    summary="A mock tool workflow: pick a tool (search, summarize, translate, calculator), send JSON, "
    "watch the steps, get JSON back.",
    state=state,
    actions={"run_workflow": Action(RunWorkflowParams, run_workflow)},
    events={"step": "{run_id, index, name, status: running|completed|failed}: progress of a run"},
)
