"""Replica Task Memory: chat with a replica that keeps the user's task list."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec

from protocol import MAX_CONTENT_LENGTH, MAX_ID_LENGTH

from ..errors import ReplicaRejected, ReplicaRequired, ReplicaUnavailable
from ..replies import ReplyJob
from ..store import interactions, tasks
from ..store.records import Task
from ..store.users import Executor
from .base import Action, Context, Outcome, Prototype, require_replica
from .task_commands import TaskCommand, parse_command

ID = "task-memory"


class TaskChatParams(msgspec.Struct, forbid_unknown_fields=True):
    content: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONTENT_LENGTH)]
    replica_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)] | None = None


async def chat(ctx: Context, user_id: UUID, params: TaskChatParams) -> Outcome:
    """Chat with a replica; task commands ("add task …", "complete task 2", "list tasks") change the task list."""
    replica_id = params.replica_id or await ctx.replicas.default_replica_id(str(user_id))
    if replica_id is None:
        raise ReplicaRequired("give replica_id: no default replica is configured")
    await require_replica(ctx, user_id, replica_id)  # before the list changes, not after
    command = parse_command(params.content)
    if command is None:
        reply = await _ask(ctx, user_id, replica_id, params.content)
        details = {"command": None, "content": params.content, "replica_id": replica_id, "reply": reply}
        interaction = await interactions.record(ctx.pool, user_id, ID, "chat", details)
        return Outcome({"command": None, "reply": reply}, interaction)

    async with ctx.pool.acquire() as conn, conn.transaction():
        applied = await _apply(conn, user_id, command)
        # The whole list goes back to the caller, not into every interaction row.
        recorded = {key: value for key, value in applied.items() if key != "tasks"}
        details = {"command": command.kind, "content": params.content, "replica_id": replica_id, **recorded}
        interaction = await interactions.record(conn, user_id, ID, "chat", details)
    prompt = (
        f'The user wrote: "{params.content}". Their task list was updated: {applied["outcome"]} '
        "Confirm this outcome to the user in your answer."
    )
    result: dict[str, Any] = {"command": command.kind, **applied}
    try:
        result["reply"] = await _ask(ctx, user_id, replica_id, prompt)
    except (ReplicaUnavailable, ReplicaRejected):
        # The task list has changed already (the pipeline logged the failure): report that instead of inviting
        # a retry that would repeat it.
        result["reply"] = None
        result["reply_error"] = "the replica could not answer; the task list was updated anyway"
    return Outcome(result, interaction)


async def _apply(conn: Executor, user_id: UUID, command: TaskCommand) -> dict[str, Any]:
    """Carry out the command; return ``ok``, ``outcome`` (a sentence), the task concerned and the list."""
    current = await tasks.list_tasks(conn, user_id)
    if command.kind == "add":
        assert command.description is not None
        task = await tasks.create_task(conn, user_id, command.description)
        listed = [*current, task]
        return _done(f'Added task {len(listed)}: "{task.description}".', task, listed)
    if command.kind == "list":
        return {"ok": True, "outcome": _listing(current), "task": None, "tasks": current}
    assert command.position is not None
    if not 1 <= command.position <= len(current):
        outcome = f"There is no task {command.position}; the list has {len(current)} task(s)."
        return {"ok": False, "outcome": outcome, "task": None, "tasks": current}
    target = current[command.position - 1]
    if command.kind == "complete":
        task = await tasks.update_task(conn, user_id, target.id, status="completed")
        listed = [task if t.id == task.id else t for t in current]
        return _done(f'Marked task {command.position} "{task.description}" as completed.', task, listed)
    task = await tasks.delete_task(conn, user_id, target.id)
    listed = [t for t in current if t.id != task.id]
    return _done(f'Deleted task {command.position} "{task.description}".', task, listed)


def _done(outcome: str, task: Task, listed: list[Task]) -> dict[str, Any]:
    return {"ok": True, "outcome": outcome, "task": task, "tasks": listed}


def _listing(current: list[Task]) -> str:
    if not current:
        return "The task list is empty."
    lines = "; ".join(f'{n}. "{t.description}" ({t.status})' for n, t in enumerate(current, start=1))
    return f"The task list has {len(current)} task(s): {lines}."


async def _ask(ctx: Context, user_id: UUID, replica_id: str, content: str) -> str:
    job = ReplyJob(kind=ID, asker=str(user_id), replica_id=replica_id, prompt=content, audience=None)
    return (await ctx.replies.run(job)).content


async def state(ctx: Context, user_id: UUID) -> dict[str, Any]:
    """The user's tasks, numbered as the chat commands number them."""
    current = await tasks.list_tasks(ctx.pool, user_id)
    return {"default_replica_id": await ctx.replicas.default_replica_id(str(user_id)), "tasks": current}


PROTOTYPE = Prototype(
    id=ID,
    name="Replica Task Memory",
    summary="Chat with a replica that keeps your task list: add, complete, delete and list tasks in plain words. "
    "Task N is the N-th oldest task.",
    state=state,
    actions={"chat": Action(TaskChatParams, chat)},
)
