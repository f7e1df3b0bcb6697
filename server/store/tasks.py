"""The ``tasks`` table (and ``task_commands``). Every function is scoped to one owner: another user's task is
not found."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from .errors import NotFound
from .records import Task, TaskStatus, from_row
from .users import Executor

_COLUMNS = "id, user_id, number, description, status, due_at, reminded_at, created_at, updated_at"
_UNSET = datetime.min
"""``due_at`` left as it is (``None`` clears it)."""


async def list_tasks(db: Executor, user_id: UUID) -> list[Task]:
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM tasks WHERE user_id = $1 ORDER BY number", user_id)
    return [from_row(Task, row) for row in rows]


async def create_task(
    db: Executor, user_id: UUID, description: str, status: TaskStatus = "pending", due_at: datetime | None = None
) -> Task:
    row = await db.fetchrow(
        f"INSERT INTO tasks (user_id, description, status, due_at) VALUES ($1, $2, $3, $4) RETURNING {_COLUMNS}",
        user_id,
        description,
        status,
        due_at,
    )
    return from_row(Task, row)


async def update_task(
    db: Executor,
    user_id: UUID,
    task_id: UUID,
    *,
    description: str | None = None,
    status: TaskStatus | None = None,
    due_at: datetime | None = _UNSET,
    expected_updated_at: datetime | None = None,
) -> Task:
    """Change a task; a new ``due_at`` is reminded again. With ``expected_updated_at`` the change applies only if
    the task is unchanged since then. :class:`NotFound` when there is no such task (or it changed)."""
    keep_due = due_at is _UNSET
    row = await db.fetchrow(
        f"""
        UPDATE tasks SET description = coalesce($3, description), status = coalesce($4, status),
            due_at = CASE WHEN $5 THEN due_at ELSE $6 END,
            reminded_at = CASE WHEN $5 THEN reminded_at ELSE NULL END,
            updated_at = now()
        WHERE id = $1 AND user_id = $2 AND ($7::timestamptz IS NULL OR updated_at = $7) RETURNING {_COLUMNS}
        """,
        task_id,
        user_id,
        description,
        status,
        keep_due,
        None if keep_due else due_at,
        expected_updated_at,
    )
    if row is None:
        raise NotFound("task not found")
    return from_row(Task, row)


async def delete_task(
    db: Executor, user_id: UUID, task_id: UUID, *, expected_updated_at: datetime | None = None
) -> Task:
    """Delete a task (only if unchanged since ``expected_updated_at``, when given); :class:`NotFound` otherwise."""
    row = await db.fetchrow(
        f"DELETE FROM tasks WHERE id = $1 AND user_id = $2 AND ($3::timestamptz IS NULL OR updated_at = $3)"
        f" RETURNING {_COLUMNS}",
        task_id,
        user_id,
        expected_updated_at,
    )
    if row is None:
        raise NotFound("task not found")
    return from_row(Task, row)


async def claim_due(db: Executor, limit: int) -> list[Task]:
    """Mark due, unreminded, open tasks as reminded and return them; rows another transaction holds are skipped,
    so each due task is claimed by exactly one caller (call inside the transaction that tells the user)."""
    rows = await db.fetch(
        f"""
        UPDATE tasks SET reminded_at = now() WHERE id IN (
            SELECT id FROM tasks
            WHERE due_at <= now() AND reminded_at IS NULL AND status <> 'completed'
            ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED
        ) RETURNING {_COLUMNS}
        """,
        limit,
    )
    return sorted((from_row(Task, row) for row in rows), key=lambda t: (t.due_at, t.id))


class CommandOutcome(msgspec.Struct, frozen=True):
    """What a task command given in chat did, kept with the message that gave it."""

    message_id: UUID
    command: str
    ok: bool
    outcome: str
    task_id: UUID | None


async def record_command(db: Executor, user_id: UUID, outcome: CommandOutcome) -> None:
    await db.execute(
        "INSERT INTO task_commands (message_id, user_id, command, ok, outcome, task_id)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        outcome.message_id,
        user_id,
        outcome.command,
        outcome.ok,
        outcome.outcome,
        outcome.task_id,
    )


async def command_of(db: Executor, message_id: UUID) -> CommandOutcome | None:
    """The outcome of the command the message gave, if it gave one."""
    row: asyncpg.Record | None = await db.fetchrow(
        "SELECT message_id, command, ok, outcome, task_id FROM task_commands WHERE message_id = $1", message_id
    )
    return from_row(CommandOutcome, row) if row else None
