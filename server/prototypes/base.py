"""What every prototype is made of: a context, actions with typed params and a state view."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar
from uuid import UUID

import asyncpg
import msgspec

from ..config import Settings
from ..context.conversation import Conversations
from ..errors import InvalidInput
from ..hub.hub import Hub
from ..replies import ReplicaDirectory, Replies
from ..store.records import Interaction
from .tasks import TaskService
from .voice_kit import VoiceKit

T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    """The services an action may use."""

    pool: asyncpg.Pool
    hub: Hub
    replies: Replies
    replicas: ReplicaDirectory
    settings: Settings
    conversations: Conversations
    """Replica conversation turns, as chat runs them (shared with chat, below both)."""
    tasks: TaskService
    """The user's tasks edited directly (a due time wakes the scheduler)."""
    voice: VoiceKit = field(default_factory=VoiceKit)
    """Pure Voice's telephony provider, PIN hasher and speech recogniser."""


class Outcome(NamedTuple):
    """What an action returns: its result and the interaction row that records it."""

    result: dict[str, Any]
    interaction: Interaction


Handler = Callable[[Context, UUID, Any], Awaitable[Outcome]]
StateView = Callable[[Context, UUID], Awaitable[dict[str, Any]]]


class Action(NamedTuple):
    """An action's params struct and its handler; the handler's docstring is its summary."""

    body: type[msgspec.Struct]
    handler: Handler


async def _no_state(ctx: Context, user_id: UUID) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Prototype:
    id: str
    name: str
    summary: str
    state: StateView = _no_state
    actions: dict[str, Action] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)
    """Socket events (``prototype.event`` frames) the prototype emits, with what they carry."""

    @property
    def description(self) -> dict[str, Any]:
        """Name, summary, events and each action's summary and params JSON Schema."""
        return {
            "name": self.name,
            "summary": self.summary,
            "events": self.events,
            "actions": {
                name: {"summary": _first_line(action.handler.__doc__), "params": msgspec.json.schema(action.body)}
                for name, action in self.actions.items()
            },
        }


def _first_line(doc: str | None) -> str:
    lines = (doc or "").strip().splitlines()
    return lines[0] if lines else ""


def convert(value: Any, type_: type[T], at: str) -> T:
    """``msgspec.convert`` whose failure is :class:`~server.errors.InvalidInput` naming the field (below ``$.{at}``)."""
    try:
        return msgspec.convert(value, type_)
    except msgspec.ValidationError as exc:
        message = str(exc)
        if at and " - at `$" in message:
            message = message.replace(" - at `$", f" - at `$.{at}", 1)
        elif at:
            message = f"{message} - at `$.{at}`"
        raise InvalidInput(message) from None


async def require_replica(ctx: Context, user_id: UUID, replica_id: str) -> None:
    """Check the replica exists for the user; :class:`~server.errors.ReplicaNotFound` otherwise."""
    await ctx.replicas.require(str(user_id), replica_id)
