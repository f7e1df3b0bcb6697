"""A user's own tasks edited directly, as ``/api/tasks`` and the MCP task tools do (Replica Task Memory's list)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from ..errors import NotFound
from ..store import errors as store_errors
from ..store import tasks
from ..store.records import Task, TaskStatus

__all__ = ["Task", "TaskService", "TaskStatus"]


class TaskService:
    """The caller's tasks; another user's task is :class:`~server.errors.NotFound`. A task given a due time
    wakes the scheduler (``due_work_added``), so its reminder is not left to the next tick."""

    def __init__(self, pool: asyncpg.Pool, due_work_added: Callable[[], None]) -> None:
        self.pool = pool
        self.due_work_added = due_work_added

    async def list(self, user_id: UUID) -> list[Task]:
        """The user's tasks, oldest first."""
        return await tasks.list_tasks(self.pool, user_id)

    async def create(self, user_id: UUID, description: str, status: TaskStatus, due_at: datetime | None) -> Task:
        task = await tasks.create_task(self.pool, user_id, description.strip(), status, due_at)
        if task.due_at is not None:
            self.due_work_added()
        return task

    async def update(
        self,
        user_id: UUID,
        task_id: UUID,
        *,
        description: str | None,
        status: TaskStatus | None,
        due_at: datetime | None | msgspec.UnsetType = msgspec.UNSET,
    ) -> Task:
        """Change what is given (``None``: keep); a given ``due_at`` (``None`` removes it) is reminded again."""
        try:
            if due_at is msgspec.UNSET:
                return await tasks.update_task(self.pool, user_id, task_id, description=description, status=status)
            task = await tasks.update_task(
                self.pool, user_id, task_id, description=description, status=status, due_at=due_at
            )
        except store_errors.NotFound:
            raise NotFound(f"no task {task_id}") from None
        self.due_work_added()
        return task

    async def delete(self, user_id: UUID, task_id: UUID) -> Task:
        """The task deleted."""
        try:
            return await tasks.delete_task(self.pool, user_id, task_id)
        except store_errors.NotFound:
            raise NotFound(f"no task {task_id}") from None
