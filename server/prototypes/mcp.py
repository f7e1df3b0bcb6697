"""MCP client/server: workflows that chain the hub's MCP tools, each step's output feeding the next.

A step's input may refer to earlier outputs: a string ``"$prev.answer"`` (the previous step's output field) or
``"$steps.0.results.0.snippet"`` (any earlier step, by index) is replaced by that value. Every step really runs
the tool (the same catalogue ``/mcp`` serves) and is reported as a ``step`` event; a run that fails is kept
with the step that failed, and the action answers that step's error with the ``run_id``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

import msgspec

from protocol import PrototypeEventFrame

from ..errors import DomainError, InvalidInput, error_code
from ..store import interactions
from .base import Action, Context, Outcome, Prototype
from .tools import CATALOGUE, call_tool, input_schema

ID = "mcp"
MAX_STEPS = 10
StepStatus = Literal["running", "completed", "failed"]


class Step(msgspec.Struct, forbid_unknown_fields=True):
    tool: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    input: dict[str, Any] = {}


class RunWorkflowParams(msgspec.Struct, forbid_unknown_fields=True):
    steps: Annotated[list[Step], msgspec.Meta(max_length=MAX_STEPS)] = []
    tool: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    """A one-step workflow: ``tool`` with ``input`` (instead of ``steps``)."""
    input: dict[str, Any] = {}


def resolve(value: Any, outputs: list[dict[str, Any]]) -> Any:
    """``value`` with every ``"$prev…"`` / ``"$steps.N…"`` string replaced by the output it names."""
    if isinstance(value, dict):
        return {key: resolve(item, outputs) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, outputs) for item in value]
    if not isinstance(value, str) or not value.startswith(("$prev", "$steps.")):
        return value
    parts = value[1:].split(".")
    if parts[0] == "prev":
        if not outputs:
            raise InvalidInput(f"{value!r}: the first step has no previous output")
        found: Any = outputs[-1]
        path = parts[1:]
    else:
        if len(parts) < 2 or not (parts[1].isascii() and parts[1].isdigit()) or int(parts[1]) >= len(outputs):
            raise InvalidInput(f"{value!r}: names no earlier step")
        found, path = outputs[int(parts[1])], parts[2:]
    for part in path:
        if isinstance(found, dict) and part in found:
            found = found[part]
        elif isinstance(found, list) and part.isascii() and part.isdigit() and int(part) < len(found):
            found = found[int(part)]
        else:
            raise InvalidInput(f"{value!r}: the output has no {part!r}")
    return found


async def run_workflow(ctx: Context, user_id: UUID, params: RunWorkflowParams) -> Outcome:
    """Run tools one after another, each step's input drawing on earlier outputs (``$prev.field``,
    ``$steps.N.field``); every step is reported as a `step` event; a failed run is kept and answered with its
    step's error and ``run_id``."""
    steps = params.steps or ([Step(params.tool, params.input)] if params.tool else [])
    if not steps or (params.steps and params.tool):
        raise InvalidInput("give either steps or one tool with its input - at `$.params.steps`")
    unknown = [s.tool for s in steps if s.tool not in CATALOGUE]
    if unknown:
        raise InvalidInput(f"unknown tool {unknown[0]!r} (tools: {', '.join(CATALOGUE)}) - at `$.params.steps`")
    run_id = uuid4()
    outputs: list[dict[str, Any]] = []
    report: list[dict[str, Any]] = []
    for index, step in enumerate(steps):
        await _event(ctx, user_id, {"run_id": str(run_id), "index": index, "tool": step.tool, "status": "running"})
        try:
            tool_input = resolve(step.input, outputs)
            output = await call_tool(ctx, user_id, step.tool, tool_input)
        except DomainError as exc:
            failed = {"index": index, "tool": step.tool, "status": "failed", "code": error_code(exc).value,
                      "error": exc.detail}  # fmt: skip
            report.append(failed)
            await _event(ctx, user_id, {"run_id": str(run_id), **failed})
            details = {"run_id": run_id, "status": "failed", "steps": report}
            await interactions.record(ctx.pool, user_id, ID, "run_workflow", details)
            raise type(exc)(f"step {index} ({step.tool}) failed: {exc.detail}", run_id=str(run_id)) from exc
        outputs.append(output)
        done = {"index": index, "tool": step.tool, "status": "completed", "input": tool_input, "output": output}
        report.append(done)
        await _event(ctx, user_id, {"run_id": str(run_id), **done})
    details = {"run_id": run_id, "status": "completed", "steps": report}
    interaction = await interactions.record(ctx.pool, user_id, ID, "run_workflow", details)
    result = {"run_id": run_id, "status": "completed", "steps": report, "output": outputs[-1]}
    return Outcome(result, interaction)


async def _event(ctx: Context, user_id: UUID, data: dict[str, Any]) -> None:
    frame = PrototypeEventFrame(prototype=ID, event="step", data=msgspec.to_builtins(data))
    await ctx.hub.send_to_user(user_id, frame)


async def state(ctx: Context, user_id: UUID) -> dict[str, Any]:
    """The tools with their input schemas, and the user's latest runs (failed ones too)."""
    runs = await interactions.list_recent(ctx.pool, user_id, ID, limit=20)
    return {
        "tools": {name: {"summary": spec.summary, "input": input_schema(spec)} for name, spec in CATALOGUE.items()},
        "runs": [{**run.details, "created_at": run.created_at} for run in runs],
        "mcp_endpoint": "/mcp",
    }


PROTOTYPE = Prototype(
    id=ID,
    name="MCP client/server",
    summary="The hub speaks the Model Context Protocol at /mcp (your bearer token; tools: ask a replica, list "
    "replicas, read and change tasks, search your conversations and tasks, summarize, translate, calculator; your "
    "tasks, conversations and replicas as resources; a prompt per replica). Workflows chain those tools, each "
    "step's output feeding the next.",
    state=state,
    actions={"run_workflow": Action(RunWorkflowParams, run_workflow)},
    events={
        "step": "{run_id, index, tool, status: running|completed|failed, input?, output?, code?, error?}: "
        "progress of a workflow run"
    },
)
