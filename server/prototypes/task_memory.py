"""Replica Task Memory: any replica chat keeps the user's task list ("add task call the plumber tomorrow at 5pm").

A message that is a task command is stored like any chat message, and in the same transaction the command is
applied and its outcome kept with the message (:func:`apply_command`): sending the message again never applies
it twice, and a command that lost a race to another (its task changed meanwhile) stores nothing and answers
409 ``task_conflict``. The replica is then asked, out of Sensay's history (``skip_chat_history``), to tell the
user the outcome (:func:`outcome_prompt`); its answer streams and is stored as the reply in the chat stream.
A task due at a time gets a ``reminder`` event on the user's sockets once it is due (:func:`remind_due_tasks`).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

import msgspec

from protocol import MAX_CONTENT_LENGTH, MAX_ID_LENGTH, PrototypeEventFrame

from ..errors import ReplicaRequired, TaskConflict
from ..store import errors as store_errors
from ..store import interactions, tasks
from ..store.records import Task
from ..store.tasks import CommandOutcome
from ..store.users import Executor
from .base import Action, Context, Outcome, Prototype, require_replica
from .due_times import parse_due
from .task_commands import TaskCommand, parse_command

ID = "task-memory"
REMINDERS_PER_SWEEP = 100


class TaskChatParams(msgspec.Struct, forbid_unknown_fields=True):
    content: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONTENT_LENGTH)]
    replica_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)] | None = None
    client_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)] | None = None


async def list_seen(db: Executor, user_id: UUID) -> list[Task]:
    """The task list as the user sees it when their command arrives: "task N" is the N-th of this list."""
    return await tasks.list_tasks(db, user_id)


async def apply_command(
    conn: Executor, user_id: UUID, message_id: UUID, command: TaskCommand, seen: list[Task], timezone: str
) -> CommandOutcome:
    """Carry out ``command`` for the message that gave it and keep the outcome with the message (same transaction).

    "Task N" is the N-th task of ``seen`` (:func:`list_seen`, read when the command arrived); when that task has
    changed since (another command got there first), :class:`~server.errors.TaskConflict` and nothing applies.
    """
    current = await tasks.list_tasks(conn, user_id)
    task: Task | None
    if command.kind == "add":
        assert command.description is not None
        due_at = await asyncio.to_thread(parse_due, command.description, datetime.now(UTC), timezone)
        task = await tasks.create_task(conn, user_id, command.description, due_at=due_at)
        due = f" It is due {_when(due_at)} and you will get a reminder then." if due_at else ""
        outcome = CommandOutcome(
            message_id, "add", True, f'Added task {len(current) + 1}: "{task.description}".{due}', task.id
        )
    elif command.kind == "list":
        outcome = CommandOutcome(message_id, "list", True, _listing(current), None)
    else:
        assert command.position is not None
        if not 1 <= command.position <= len(seen):
            text = f"There is no task {command.position}; the list has {len(seen)} task(s)."
            outcome = CommandOutcome(message_id, command.kind, False, text, None)
        else:
            target = seen[command.position - 1]
            try:
                if command.kind == "complete":
                    task = await tasks.update_task(
                        conn, user_id, target.id, status="completed", expected_updated_at=target.updated_at
                    )
                    text = f'Marked task {command.position} "{task.description}" as completed.'
                else:
                    task = await tasks.delete_task(conn, user_id, target.id, expected_updated_at=target.updated_at)
                    text = f'Deleted task {command.position} "{task.description}".'
            except store_errors.NotFound:
                raise TaskConflict(
                    f"task {command.position} changed while this command ran; nothing was stored: look at the list "
                    "and send the command again"
                ) from None
            outcome = CommandOutcome(message_id, command.kind, True, text, target.id)
    await tasks.record_command(conn, user_id, outcome)
    details = {"command": outcome.command, "ok": outcome.ok, "outcome": outcome.outcome, "message_id": message_id}
    await interactions.record(conn, user_id, ID, "command", {**details, "task_id": outcome.task_id})
    return outcome


async def command_outcome(db: Executor, message_id: UUID) -> CommandOutcome | None:
    """The outcome of the task command the message gave (``None``: it gave none)."""
    return await tasks.command_of(db, message_id)


def outcome_prompt(content: str, outcome: CommandOutcome) -> str:
    """What the replica is asked so that it tells the user what their command did (sent out of Sensay's history)."""
    return (
        f'The user wrote: "{content}". Their task list was updated: {outcome.outcome} '
        "Confirm this outcome to the user in your answer."
    )


def _when(due_at: datetime) -> str:
    return due_at.strftime("%a %d %b %Y %H:%M %Z").strip()


def _listing(current: list[Task]) -> str:
    if not current:
        return "The task list is empty."
    lines = "; ".join(
        f'{n}. "{t.description}" ({t.status}{", due " + _when(t.due_at) if t.due_at else ""})'
        for n, t in enumerate(current, start=1)
    )
    return f"The task list has {len(current)} task(s): {lines}."


async def chat(ctx: Context, user_id: UUID, params: TaskChatParams) -> Outcome:
    """Chat with a replica (as ``POST /api/conversations`` does); task commands ("add task …", "complete task 2",
    "list tasks") change the task list, the replica's stored reply states the outcome."""
    replica_id = params.replica_id or await ctx.replicas.default_replica_id(str(user_id))
    if replica_id is None:
        raise ReplicaRequired("give replica_id: no default replica is configured")
    await require_replica(ctx, user_id, replica_id)
    assert ctx.converse is not None, "the chat service is wired in"
    done = await ctx.converse(user_id, replica_id, params.content, params.client_id or f"task-memory-{uuid4()}")
    outcome = await command_outcome(ctx.pool, UUID(done.message.id))
    result: dict[str, Any] = {
        "command": outcome.command if outcome else None,
        "ok": outcome.ok if outcome else None,
        "outcome": outcome.outcome if outcome else None,
        "task": None,
        "reply": done.reply.content,
        "message": done.message,
        "reply_message": done.reply,
    }
    current = await tasks.list_tasks(ctx.pool, user_id)
    if outcome is not None:
        result["task"] = next((t for t in current if t.id == outcome.task_id), None)
        result["tasks"] = current
    details = {"command": result["command"], "content": params.content, "replica_id": replica_id,
               "message_id": done.message.id}  # fmt: skip
    interaction = await interactions.record(ctx.pool, user_id, ID, "chat", details)
    return Outcome(result, interaction)


async def remind_due_tasks(ctx: Context) -> int:
    """Send a ``reminder`` event for each task that has come due, once: the claim, the record and the send share
    a transaction, so a task is reminded by one process, and a crash before the commit leaves it due."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        due = await tasks.claim_due(conn, REMINDERS_PER_SWEEP)
        for task in due:
            data = {"task_id": str(task.id), "description": task.description, "due_at": task.due_at}
            await interactions.record(conn, task.user_id, ID, "reminder", data)
            frame = PrototypeEventFrame(prototype=ID, event="reminder", data=msgspec.to_builtins(data))
            await ctx.hub.send_to_user(task.user_id, frame)
    return len(due)


async def state(ctx: Context, user_id: UUID) -> dict[str, Any]:
    """The user's tasks, numbered as the chat commands number them, with their due times."""
    current = await tasks.list_tasks(ctx.pool, user_id)
    return {"default_replica_id": await ctx.replicas.default_replica_id(str(user_id)), "tasks": current}


PROTOTYPE = Prototype(
    id=ID,
    name="Replica Task Memory",
    summary="Chat with any replica, over the socket or REST, and it keeps your task list: add (with a due time: "
    '"add task call the plumber tomorrow at 5pm"), complete, delete and list tasks in plain words; task N is the '
    "N-th oldest. A due task sends a reminder to your sockets.",
    state=state,
    actions={"chat": Action(TaskChatParams, chat)},
    events={"reminder": "{task_id, description, due_at}: a task has come due (sent once)"},
)

__all__ = ["apply_command", "command_outcome", "list_seen", "outcome_prompt", "parse_command"]
