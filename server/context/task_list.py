"""What a chat message asks of the user's task list ("add task call the plumber tomorrow at 5pm"), carried out.

A message that is a task command is stored like any chat message, and in the same transaction the command is
applied and its outcome kept with the message (:func:`apply_command`): sending the message again never applies
it twice, and a command that lost a race to another (its task changed meanwhile) stores nothing and answers
409 ``task_conflict``. The replica is then asked, out of Sensay's history (``skip_chat_history``), to tell the
user the outcome (:func:`outcome_prompt`). Each outcome is recorded as a ``command`` interaction of the Replica
Task Memory prototype.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID

from ..errors import TaskConflict
from ..store import errors as store_errors
from ..store import interactions, tasks
from ..store.records import Task
from ..store.tasks import CommandOutcome
from ..store.users import Executor
from .due_times import parse_due
from .task_commands import TaskCommand, parse_command

TASK_MEMORY = "task-memory"
"""The prototype whose records a command's outcome joins."""


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
    await interactions.record(conn, user_id, TASK_MEMORY, "command", {**details, "task_id": outcome.task_id})
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


__all__ = ["CommandOutcome", "apply_command", "command_outcome", "list_seen", "outcome_prompt", "parse_command"]
