"""``/api/tasks``: the caller's own tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar
from uuid import UUID

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from protocol import ErrorCode

from ..errors import InvalidInput
from ..prototypes.tasks import Task, TaskStatus
from ..state import app_state
from .guard import require_principal
from .operation import Answer, operation, routes_of
from .parsing import path_uuid, read_json
from .responses import json_response

Description = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


DueAt = Annotated[datetime, msgspec.Meta(tz=True, description="When to remind the user (RFC 3339, with offset)")]


class NewTask(msgspec.Struct, forbid_unknown_fields=True):
    description: Description
    status: TaskStatus = "pending"
    due_at: DueAt | None = None


class TaskPatch(msgspec.Struct, forbid_unknown_fields=True):
    json_schema_extra: ClassVar[dict[str, int]] = {"minProperties": 1}  # an empty patch is 422

    description: Description | msgspec.UnsetType = msgspec.UNSET
    status: TaskStatus | msgspec.UnsetType = msgspec.UNSET
    due_at: DueAt | None | msgspec.UnsetType = msgspec.UNSET
    """A new due time is reminded again; ``null`` removes it."""


class TaskList(msgspec.Struct):
    """The caller's tasks, oldest first."""

    tasks: list[Task]


_TASK_ID = {"task_id": UUID}


@operation("GET", "/api/tasks", "listTasks", tag="tasks", answers={200: TaskList})
async def list_tasks(request: Request) -> Response:
    """The caller's tasks."""
    principal = await require_principal(request)
    return json_response(TaskList(await app_state(request)["prototypes"].tasks.list(principal.user_id)))


@operation(
    "POST",
    "/api/tasks",
    "createTask",
    tag="tasks",
    body=NewTask,
    answers={201: Answer(Task, "The task.", {"Location": "The task's URL."})},
)
async def create_task(request: Request) -> Response:
    """Create a task."""
    principal = await require_principal(request)
    body = await read_json(request, NewTask)
    task = await app_state(request)["prototypes"].tasks.create(
        principal.user_id, body.description, body.status, body.due_at
    )
    return json_response(task, 201, headers={"Location": f"/api/tasks/{task.id}"})


@operation(
    "PATCH",
    "/api/tasks/{task_id}",
    "updateTask",
    tag="tasks",
    path_params=_TASK_ID,
    body=TaskPatch,
    answers={200: Task},
    errors=[ErrorCode.NOT_FOUND],
)
async def update_task(request: Request) -> Response:
    """Change a task's description or status (another user's task is 404)."""
    principal = await require_principal(request)
    task_id = path_uuid(request, "task_id")
    body = await read_json(request, TaskPatch)
    if body.description is msgspec.UNSET and body.status is msgspec.UNSET and body.due_at is msgspec.UNSET:
        raise InvalidInput("give a description, a status or a due_at to change")
    description = None if body.description is msgspec.UNSET else body.description
    status = None if body.status is msgspec.UNSET else body.status
    task = await app_state(request)["prototypes"].tasks.update(
        principal.user_id, task_id, description=description, status=status, due_at=body.due_at
    )
    return json_response(task)


@operation(
    "DELETE",
    "/api/tasks/{task_id}",
    "deleteTask",
    tag="tasks",
    path_params=_TASK_ID,
    answers={204: None},
    errors=[ErrorCode.NOT_FOUND],
)
async def delete_task(request: Request) -> Response:
    """Delete a task (another user's task is 404)."""
    principal = await require_principal(request)
    task_id = path_uuid(request, "task_id")
    await app_state(request)["prototypes"].tasks.delete(principal.user_id, task_id)
    return Response(status_code=204)


routes = routes_of(list_tasks, create_task, update_task, delete_task)
