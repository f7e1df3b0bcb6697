"""What a chat message asks of the user's task list ("I need to buy milk on Friday", "mark task 2 done"), carried out.

A message is read once, from its words alone (:func:`~.task_intents.read`), before it is stored; what it asks is
then resolved against the list and applied in the transaction that stores the message, and its outcome kept with
the message (:func:`apply_request`): sending the message again never applies it twice. Tasks are named by their
numbers, which never move (the ``tasks_number`` trigger), so two "delete task 1" sent at once name one task: one
deletes it and the other is told it is gone. Words that name several tasks, or (plainly meaning one) none, change
nothing and are asked back. The replica is then asked, out of Sensay's history (``skip_chat_history``), to tell
the user the outcome (:func:`outcome_prompt`). Each outcome is recorded as a ``command`` interaction of the Replica
Task Memory prototype.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from ..store import errors as store_errors
from ..store import interactions, tasks
from ..store.records import Task
from ..store.tasks import CommandOutcome
from ..store.users import Executor
from .due_times import parse_due
from .task_intents import KnownTask, TaskIntent, TaskRequest, read, resolve

TASK_MEMORY = "task-memory"
"""The prototype whose records a command's outcome joins."""
CLARIFY_LISTED = 5
"""Open tasks named when words match none (the soonest due first)."""


async def apply_request(
    conn: Executor, user_id: UUID, message_id: UUID, request: TaskRequest, timezone: str
) -> CommandOutcome | None:
    """Resolve ``request`` against the list, carry it out for the message that gave it and keep the outcome with
    the message (same transaction). ``None`` (nothing kept): a past-tense remark that names no open task."""
    current = await tasks.list_tasks(conn, user_id)
    intent = resolve(request, [KnownTask(t.number, t.description, t.status == "completed") for t in current])
    if intent is None:
        return None
    ok, text, task_id = await _carry_out(conn, user_id, intent, current, timezone)
    outcome = CommandOutcome(message_id, intent.kind, ok, text, task_id)
    await tasks.record_command(conn, user_id, outcome)
    details = {"command": outcome.command, "ok": outcome.ok, "outcome": outcome.outcome, "message_id": message_id}
    await interactions.record(conn, user_id, TASK_MEMORY, "command", {**details, "task_id": outcome.task_id})
    return outcome


async def _carry_out(
    conn: Executor, user_id: UUID, intent: TaskIntent, current: list[Task], timezone: str
) -> tuple[bool, str, UUID | None]:
    """(ok, what happened in words, the task's id)."""
    if intent.kind == "add":
        assert intent.description is not None
        due_at = await asyncio.to_thread(parse_due, intent.description, datetime.now(UTC), timezone)
        task = await tasks.create_task(conn, user_id, intent.description, due_at=due_at)
        due = f" It is due {_when(due_at)} and you will get a reminder then." if due_at else ""
        return True, f'Added task {task.number}: "{task.description}".{due}', task.id
    if intent.kind == "list":
        return True, _listing(current), None
    if intent.kind == "clarify":
        return False, _question(intent, current), None
    target = next((t for t in current if t.number == intent.number), None)
    if target is None:
        numbers = ", ".join(str(t.number) for t in current)
        rest = f"your tasks are numbered {numbers}" if numbers else "the list is empty"
        return False, f"There is no task {intent.number} (any more); {rest}.", None
    try:
        if intent.kind == "delete":
            await tasks.delete_task(conn, user_id, target.id)
            return True, f'Deleted task {target.number} "{target.description}".', target.id
        if target.status == "completed":
            return False, f'Task {target.number} "{target.description}" was already completed.', target.id
        await tasks.update_task(conn, user_id, target.id, status="completed", expected_updated_at=target.updated_at)
        return True, f'Marked task {target.number} "{target.description}" as completed.', target.id
    except store_errors.NotFound:  # another message got there since the list was read: it acted, once
        return False, f'Task {target.number} "{target.description}" was changed meanwhile; nothing was done.', target.id


def _question(intent: TaskIntent, current: Sequence[Task]) -> str:
    """The question that asks the user back (the replica says it; nothing was changed)."""
    verb = "complete" if intent.wanted == "complete" else "delete"
    if intent.candidates:
        named = " or ".join(f'task {t.number} "{t.description}"' for t in current if t.number in intent.candidates)
        return f'Nothing was changed: "{intent.words}" could be {named}. Which one should I {verb}?'
    open_tasks = [t for t in current if t.status != "completed" or intent.wanted == "delete"]
    listed = "; ".join(f'{t.number}. "{t.description}"' for t in soonest_first(open_tasks)[:CLARIFY_LISTED])
    return (
        f'Nothing was changed: no task matches "{intent.words}". Which task should I {verb}? '
        f"{'The tasks: ' + listed if listed else 'The list is empty'}."
    )


def soonest_first(found: Sequence[Task]) -> list[Task]:
    """Tasks due soonest first, then those without a due time, oldest first."""
    return sorted(found, key=lambda t: (t.due_at is None, t.due_at or t.created_at, t.number))


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
        f'{t.number}. "{t.description}" ({t.status}{", due " + _when(t.due_at) if t.due_at else ""})' for t in current
    )
    return f"The task list has {len(current)} task(s): {lines}."


__all__ = ["CommandOutcome", "apply_request", "command_outcome", "outcome_prompt", "read", "soonest_first"]
