"""Replica Task Memory: any replica chat keeps the user's task list ("I need to buy milk on Friday").

What a message asks of the task list and how it is carried out lives below the services, in
:mod:`server.context.task_list`: chat applies it whenever a message asks something of the list. This prototype is the
REST/socket action that chats with a replica and reports the outcome, the task list as the user sees it, and the
``reminder`` event a task due at a time sends once it is due (:func:`remind_due_tasks`).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID, uuid4

import msgspec

from protocol import MAX_CONTENT_LENGTH, MAX_ID_LENGTH, PrototypeEventFrame

from ..context.task_list import TASK_MEMORY, command_outcome
from ..errors import ReplicaRequired
from ..store import interactions, tasks
from .base import Action, Context, Outcome, Prototype, require_replica

ID = TASK_MEMORY
REMINDERS_PER_SWEEP = 100


class TaskChatParams(msgspec.Struct, forbid_unknown_fields=True):
    content: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONTENT_LENGTH)]
    replica_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)] | None = None
    client_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)] | None = None


async def chat(ctx: Context, user_id: UUID, params: TaskChatParams) -> Outcome:
    """Chat with a replica (as ``POST /api/conversations`` does); what the message asks of the task list ("I need
    to …", "I called Bob", "mark task 2 done") changes it, and the replica's stored reply states the outcome."""
    replica_id = params.replica_id or await ctx.replicas.default_replica_id(str(user_id))
    if replica_id is None:
        raise ReplicaRequired("give replica_id: no default replica is configured")
    await require_replica(ctx, user_id, replica_id)
    client_id = params.client_id or f"task-memory-{uuid4()}"
    done = await ctx.conversations.converse(user_id, replica_id, params.content, client_id)
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
    """Send a ``reminder`` event for each task that has come due, once: the claim and the record share a
    transaction, so a task is reminded by one process, and a crash before the commit leaves it due. The events
    follow the commit (a client reading the task on one sees it reminded; should the process die first, the
    recorded interaction still reaches the owner through the change feed)."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        due = await tasks.claim_due(conn, REMINDERS_PER_SWEEP)
        reminders: list[tuple[UUID, PrototypeEventFrame]] = []
        for task in due:
            data = {"task_id": str(task.id), "description": task.description, "due_at": task.due_at}
            await interactions.record(conn, task.user_id, ID, "reminder", data)
            frame = PrototypeEventFrame(prototype=ID, event="reminder", data=msgspec.to_builtins(data))
            reminders.append((task.user_id, frame))
    for user_id, frame in reminders:
        await ctx.hub.send_to_user(user_id, frame)
    return len(due)


async def state(ctx: Context, user_id: UUID) -> dict[str, Any]:
    """The user's tasks, numbered as the chat commands number them, with their due times."""
    current = await tasks.list_tasks(ctx.pool, user_id)
    return {"default_replica_id": await ctx.replicas.default_replica_id(str(user_id)), "tasks": current}


PROTOTYPE = Prototype(
    id=ID,
    name="Replica Task Memory",
    summary="Chat with any replica, over the socket, REST or MCP, and it keeps your task list from what you say: "
    '"I need to buy milk on Friday" adds a task due then, "I called Bob" completes it, "forget the dentist" deletes '
    'it, "what do I have to do?" lists them; words that could mean several tasks are asked back. "Task 3" keeps '
    "its number for good. A due task sends a reminder to your sockets.",
    state=state,
    actions={"chat": Action(TaskChatParams, chat)},
    events={"reminder": "{task_id, description, due_at}: a task has come due (sent once)"},
)
