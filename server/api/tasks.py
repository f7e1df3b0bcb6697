"""``/api/tasks``: the caller's own tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import InvalidInput, NotFound
from ..state import app_state
from ..store import errors as store_errors
from ..store import tasks
from ..store.records import TaskStatus
from .guard import require_principal
from .parsing import path_uuid, read_json
from .responses import json_response

Description = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


DueAt = Annotated[datetime, msgspec.Meta(tz=True, description="When to remind the user (RFC 3339, with offset)")]


class NewTask(msgspec.Struct, forbid_unknown_fields=True):
    description: Description
    status: TaskStatus = "pending"
    due_at: DueAt | None = None


class TaskPatch(msgspec.Struct, forbid_unknown_fields=True):
    description: Description | None = None
    status: TaskStatus | None = None
    due_at: DueAt | None | msgspec.UnsetType = msgspec.UNSET
    """A new due time is reminded again; ``null`` removes it."""


async def list_tasks(request: Request) -> Response:
    principal = await require_principal(request)
    return json_response({"tasks": await tasks.list_tasks(app_state(request)["pool"], principal.user_id)})


async def create_task(request: Request) -> Response:
    principal = await require_principal(request)
    body = await read_json(request, NewTask)
    state = app_state(request)
    task = await tasks.create_task(state["pool"], principal.user_id, body.description.strip(), body.status, body.due_at)
    if task.due_at is not None:
        state["prototypes"].due_work_added()
    return json_response(task, 201, headers={"Location": f"/api/tasks/{task.id}"})


async def update_task(request: Request) -> Response:
    principal = await require_principal(request)
    task_id = path_uuid(request, "task_id")
    body = await read_json(request, TaskPatch)
    if body.description is None and body.status is None and body.due_at is msgspec.UNSET:
        raise InvalidInput("give a description, a status or a due_at to change")
    state = app_state(request)
    try:
        if body.due_at is msgspec.UNSET:
            task = await tasks.update_task(
                state["pool"], principal.user_id, task_id, description=body.description, status=body.status
            )
        else:
            task = await tasks.update_task(
                state["pool"], principal.user_id, task_id, description=body.description, status=body.status,
                due_at=body.due_at,
            )  # fmt: skip
            state["prototypes"].due_work_added()
    except store_errors.NotFound:
        raise NotFound("no such task") from None
    return json_response(task)


async def delete_task(request: Request) -> Response:
    principal = await require_principal(request)
    task_id = path_uuid(request, "task_id")
    try:
        await tasks.delete_task(app_state(request)["pool"], principal.user_id, task_id)
    except store_errors.NotFound:
        raise NotFound("no such task") from None
    return Response(status_code=204)


routes = [
    Route("/api/tasks", list_tasks, methods=["GET"]),
    Route("/api/tasks", create_task, methods=["POST"]),
    Route("/api/tasks/{task_id}", update_task, methods=["PATCH"]),
    Route("/api/tasks/{task_id}", delete_task, methods=["DELETE"]),
]
