"""The tools a user's MCP clients and the MCP prototype's workflows call: the hub's own (ask one of the user's
replicas, list replicas, read and change tasks, search the user's conversations and tasks) and the mock tools
(summarize, translate, calculator).

One catalogue for both, so a workflow step does exactly what the same tool does over ``/mcp``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, NamedTuple
from uuid import UUID, uuid4

import msgspec

from protocol import MAX_CONTENT_LENGTH, MAX_ID_LENGTH

from ..errors import ReplicaRequired, ToolFailed, ToolNotFound
from ..store import search as store_search
from ..store.records import TaskStatus
from .base import Context, convert, require_replica
from .mcp_resources import conversation_uri, task_uri
from .mcp_tools import TOOLS, ToolError

Call = Callable[[Context, UUID, Any], Awaitable[dict[str, Any]]]


class ToolSpec(NamedTuple):
    summary: str
    input: type[msgspec.Struct]
    call: Call


class NoInput(msgspec.Struct, forbid_unknown_fields=True):
    pass


class AskInput(msgspec.Struct, forbid_unknown_fields=True):
    question: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONTENT_LENGTH)]
    replica_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)] | None = None


class AddTaskInput(msgspec.Struct, forbid_unknown_fields=True):
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    due_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None


class TaskRef(msgspec.Struct, forbid_unknown_fields=True):
    task_id: UUID


class SearchInput(msgspec.Struct, forbid_unknown_fields=True):
    query: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    limit: Annotated[int, msgspec.Meta(ge=1, le=20)] = 5


class UpdateTaskInput(msgspec.Struct, forbid_unknown_fields=True):
    task_id: UUID
    status: TaskStatus | None = None
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)] | None = None


async def list_replicas(ctx: Context, user_id: UUID, _: NoInput) -> dict[str, Any]:
    listed = await ctx.replicas.available(str(user_id))
    replicas = [{"id": r.uuid, "name": r.name, "short_description": r.short_description} for r in listed]
    return {"replicas": replicas, "default_replica_id": await ctx.replicas.default_replica_id(str(user_id), listed)}


async def ask_replica(ctx: Context, user_id: UUID, params: AskInput) -> dict[str, Any]:
    replica_id = params.replica_id or await ctx.replicas.default_replica_id(str(user_id))
    if replica_id is None:
        raise ReplicaRequired("give replica_id: no default replica is configured")
    await require_replica(ctx, user_id, replica_id)
    done = await ctx.conversations.converse(user_id, replica_id, params.question, f"mcp-{uuid4()}")
    return {"replica_id": replica_id, "answer": done.reply.content, "message_id": done.message.id}


async def list_tasks(ctx: Context, user_id: UUID, _: NoInput) -> dict[str, Any]:
    return {"tasks": msgspec.to_builtins(await ctx.tasks.list(user_id))}


async def add_task(ctx: Context, user_id: UUID, params: AddTaskInput) -> dict[str, Any]:
    task = await ctx.tasks.create(user_id, params.description, "pending", params.due_at)
    return {"task": msgspec.to_builtins(task)}


async def update_task(ctx: Context, user_id: UUID, params: UpdateTaskInput) -> dict[str, Any]:
    task = await ctx.tasks.update(user_id, params.task_id, description=params.description, status=params.status)
    return {"task": msgspec.to_builtins(task)}


async def delete_task(ctx: Context, user_id: UUID, params: TaskRef) -> dict[str, Any]:
    return {"deleted": msgspec.to_builtins(await ctx.tasks.delete(user_id, params.task_id))}


async def search(ctx: Context, user_id: UUID, params: SearchInput) -> dict[str, Any]:
    total, hits = await store_search.search(ctx.pool, user_id, params.query.strip() or params.query, params.limit)
    results = [
        {
            "kind": hit.kind,
            "id": hit.id,
            "replica_id": hit.replica_id,
            "snippet": hit.text[:300],
            "score": round(hit.score, 4),
            "at": hit.at,
            "uri": conversation_uri(hit.replica_id) if hit.replica_id is not None else task_uri(hit.id),
        }
        for hit in hits
    ]
    found: dict[str, Any] = msgspec.to_builtins({"query": params.query, "total": total, "results": results})
    return found


def _mock(name: str) -> ToolSpec:
    tool = TOOLS[name]

    async def call(ctx: Context, user_id: UUID, params: Any) -> dict[str, Any]:
        try:
            return tool.run(params)
        except ToolError as exc:
            raise ToolFailed(f"{name}: {exc}") from None

    return ToolSpec(f"{tool.summary} (mock)", tool.input, call)


CATALOGUE: dict[str, ToolSpec] = {
    "list_replicas": ToolSpec("List the replicas you can talk to", NoInput, list_replicas),
    "ask_replica": ToolSpec(
        "Ask one of your replicas a question (kept in your chat with it); the default replica when none is named",
        AskInput,
        ask_replica,
    ),
    "list_tasks": ToolSpec("Your task list, oldest first", NoInput, list_tasks),
    "add_task": ToolSpec("Add a task, optionally due at a time (you get a reminder)", AddTaskInput, add_task),
    "update_task": ToolSpec("Change a task's status or description", UpdateTaskInput, update_task),
    "delete_task": ToolSpec("Delete a task", TaskRef, delete_task),
    "search": ToolSpec(
        "Search your own conversations and tasks (full text, or a literal part of a word); best matches first",
        SearchInput,
        search,
    ),
    **{name: _mock(name) for name in TOOLS if name != "search"},
}


def input_schema(spec: ToolSpec) -> dict[str, Any]:
    """The tool's input as one self-contained JSON Schema object (what MCP's ``inputSchema`` wants)."""
    (schema,), components = msgspec.json.schema_components([spec.input], ref_template="#/$defs/{name}")
    name = schema["$ref"].rsplit("/", 1)[1]
    inline = dict(components.pop(name))
    if components:
        inline["$defs"] = components
    return inline


async def call_tool(ctx: Context, user_id: UUID, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Run a tool as ``user_id``; :class:`ToolNotFound`, :class:`~server.errors.InvalidInput` naming the field,
    or the tool's own domain errors."""
    spec = CATALOGUE.get(name)
    if spec is None:
        raise ToolNotFound(f"no tool {name!r} (tools: {', '.join(CATALOGUE)})")
    return await spec.call(ctx, user_id, convert(arguments, spec.input, "input"))
