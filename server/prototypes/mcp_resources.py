"""What ``/mcp`` offers besides tools: the user's tasks, conversations and replicas as resources (each listed and
readable as JSON), and one prompt per replica. Everything is read as the user: another user's task, or a replica
the user cannot talk to, is not found.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple
from uuid import UUID

import msgspec

from ..errors import NotFound
from ..feed.base import Change as Change  # re-exported: the row changes /mcp turns into resource updates
from ..sensay.client import Replica
from ..store import tasks
from ..store.conversations import list_messages
from .base import Context, require_replica

SCHEME: Final = "sensay-hub://"
TASKS_URI: Final = f"{SCHEME}tasks"
MAX_LISTED: Final = 100
"""Most resources of one kind listed (tasks: the newest; a longer list is still readable at TASKS_URI)."""
CONVERSATION_MESSAGES: Final = 50
"""The newest messages a conversation resource holds."""
JSON: Final = "application/json"


class HubResource(NamedTuple):
    uri: str
    name: str
    title: str
    description: str


class ResourceTemplate(NamedTuple):
    uri_template: str
    name: str
    description: str


TEMPLATES: Final = (
    ResourceTemplate(f"{SCHEME}tasks/{{task_id}}", "task", "One of your tasks"),
    ResourceTemplate(f"{SCHEME}conversations/{{replica_id}}", "conversation", "Your latest messages with a replica"),
    ResourceTemplate(f"{SCHEME}replicas/{{replica_id}}", "replica", "A replica you can talk to"),
)


def task_uri(task_id: UUID) -> str:
    return f"{SCHEME}tasks/{task_id}"


def conversation_uri(replica_id: str) -> str:
    return f"{SCHEME}conversations/{replica_id}"


def replica_uri(replica_id: str) -> str:
    return f"{SCHEME}replicas/{replica_id}"


async def list_resources(ctx: Context, user_id: UUID) -> list[HubResource]:
    """The task list, each task (newest MAX_LISTED), each conversation the user has had, each replica."""
    async with ctx.pool.acquire() as conn:
        found = await tasks.list_tasks(conn, user_id)
        talked = await conn.fetch(
            "SELECT replica_id FROM conversation_streams WHERE user_id = $1 AND last_seq > 0 ORDER BY replica_id",
            user_id,
        )
    replicas = {r.uuid: r for r in await ctx.replicas.available(str(user_id))}
    listed = [HubResource(TASKS_URI, "tasks", "Your tasks", f"All {len(found)} of your tasks, oldest first")]
    for task in found[-MAX_LISTED:]:
        listed.append(HubResource(task_uri(task.id), f"task-{task.id}", task.description[:80], f"A {task.status} task"))
    for row in talked[:MAX_LISTED]:
        replica = replicas.get(row["replica_id"])
        name = replica.name if replica is not None else row["replica_id"]
        listed.append(
            HubResource(
                conversation_uri(row["replica_id"]),
                f"conversation-{row['replica_id']}",
                f"Conversation with {name}",
                f"Your latest {CONVERSATION_MESSAGES} messages with {name}, oldest first",
            )
        )
    for replica in list(replicas.values())[:MAX_LISTED]:
        listed.append(HubResource(replica_uri(replica.uuid), f"replica-{replica.slug}", replica.name, _about(replica)))
    return listed


async def read_resource(ctx: Context, user_id: UUID, uri: str) -> dict[str, Any]:
    """The resource at ``uri`` as JSON; :class:`NotFound` for a URI that names nothing of the user's."""
    if uri == TASKS_URI:
        return {"tasks": msgspec.to_builtins(await tasks.list_tasks(ctx.pool, user_id))}
    kind, _, key = uri.removeprefix(SCHEME).partition("/") if uri.startswith(SCHEME) else ("", "", "")
    if kind == "tasks" and key:
        return await _task(ctx, user_id, key)
    if kind == "conversations" and key:
        await require_replica(ctx, user_id, key)
        messages = await list_messages(ctx.pool, user_id, key, before=None, limit=CONVERSATION_MESSAGES)
        return {"replica_id": key, "messages": [msgspec.to_builtins(m.wire()) for m in reversed(messages)]}
    if kind == "replicas" and key:
        replica = await ctx.replicas.require(str(user_id), key)
        return _replica(replica)
    raise NotFound(f"no resource {uri!r} (see resources/list)")


async def _task(ctx: Context, user_id: UUID, key: str) -> dict[str, Any]:
    try:
        task_id = UUID(key)
    except ValueError:
        raise NotFound(f"no task {key!r}") from None
    for task in await tasks.list_tasks(ctx.pool, user_id):
        if task.id == task_id:
            return {"task": msgspec.to_builtins(task)}
    raise NotFound(f"no task {key}")


def _replica(replica: Replica) -> dict[str, Any]:
    return {
        "id": replica.uuid,
        "name": replica.name,
        "slug": replica.slug,
        "short_description": replica.short_description,
        "greeting": replica.greeting,
        "suggested_questions": list(replica.suggested_questions),
        "prompt": prompt_name(replica),
    }


def _about(replica: Replica) -> str:
    return replica.short_description or f"The replica {replica.name}"


class ReplicaPrompt(NamedTuple):
    name: str
    title: str
    description: str


def prompt_name(replica: Replica) -> str:
    return f"talk-with-{replica.slug}-{replica.uuid[:8]}"


async def list_prompts(ctx: Context, user_id: UUID) -> list[ReplicaPrompt]:
    """One prompt per replica the user can talk to."""
    return [
        ReplicaPrompt(prompt_name(r), f"Talk with {r.name}", _about(r))
        for r in await ctx.replicas.available(str(user_id))
    ]


async def get_prompt(ctx: Context, user_id: UUID, name: str, arguments: dict[str, str]) -> tuple[str, str]:
    """The prompt's description and its one user message: ask the replica (through ``ask_replica``) the
    ``question`` given, or open the conversation; :class:`NotFound` for a prompt that is not the user's."""
    for replica in await ctx.replicas.available(str(user_id)):
        if prompt_name(replica) == name:
            break
    else:
        raise NotFound(f"no prompt {name!r} (see prompts/list)")
    question = (arguments.get("question") or "").strip()
    lines = [
        f"You are talking with {replica.name}, a Sensay replica ({_about(replica)}).",
        f'Use the tool ask_replica with replica_id "{replica.uuid}" for each thing you say to {replica.name}, and '
        f"read {conversation_uri(replica.uuid)} for what was said before.",
    ]
    if question:
        lines.append(f"Ask {replica.name}: {question}")
    elif replica.greeting:
        lines.append(f'{replica.name} opens with: "{replica.greeting}" Reply to it.')
    return f"Talk with {replica.name}", "\n".join(lines)
