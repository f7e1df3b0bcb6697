"""The ``tasks`` table. Every function is scoped to one owner: another user's task is not found."""

from __future__ import annotations

from uuid import UUID

from .errors import NotFound
from .records import Task, TaskStatus, from_row
from .users import Executor

_COLUMNS = "id, user_id, description, status, created_at, updated_at"


async def list_tasks(db: Executor, user_id: UUID) -> list[Task]:
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM tasks WHERE user_id = $1 ORDER BY created_at, id", user_id)
    return [from_row(Task, row) for row in rows]


async def create_task(db: Executor, user_id: UUID, description: str, status: TaskStatus = "pending") -> Task:
    row = await db.fetchrow(
        f"INSERT INTO tasks (user_id, description, status) VALUES ($1, $2, $3) RETURNING {_COLUMNS}",
        user_id,
        description,
        status,
    )
    return from_row(Task, row)


async def update_task(
    db: Executor, user_id: UUID, task_id: UUID, *, description: str | None = None, status: TaskStatus | None = None
) -> Task:
    row = await db.fetchrow(
        f"""
        UPDATE tasks SET description = coalesce($3, description), status = coalesce($4, status), updated_at = now()
        WHERE id = $1 AND user_id = $2 RETURNING {_COLUMNS}
        """,
        task_id,
        user_id,
        description,
        status,
    )
    if row is None:
        raise NotFound("task not found")
    return from_row(Task, row)


async def delete_task(db: Executor, user_id: UUID, task_id: UUID) -> Task:
    row = await db.fetchrow(f"DELETE FROM tasks WHERE id = $1 AND user_id = $2 RETURNING {_COLUMNS}", task_id, user_id)
    if row is None:
        raise NotFound("task not found")
    return from_row(Task, row)
