"""The prototypes as a service: describe them, show a user's state in one, run an action."""

from __future__ import annotations

from typing import Any, NamedTuple
from uuid import UUID

import asyncpg

from ..errors import InsufficientFunds, PrototypeNotFound, UnknownAction
from ..hub.hub import Hub
from ..replies import CallerReplies, ReplicaDirectory, Replies
from ..store import errors as store_errors
from ..store import interactions
from ..store.records import Interaction
from . import pure_voice, task_memory
from .base import Context, Prototype, convert
from .registry import PROTOTYPES

RECENT_INTERACTIONS = 20


class PrototypeView(NamedTuple):
    """A prototype's description, the caller's state in it and their latest interactions with it."""

    prototype: Prototype
    state: dict[str, Any]
    interactions: list[Interaction]


class ActionDone(NamedTuple):
    """What an action returned, and the id of the interaction row that records it."""

    result: dict[str, Any]
    interaction_id: UUID


class PrototypeService:
    def __init__(self, pool: asyncpg.Pool, hub: Hub, replies: Replies, replicas: ReplicaDirectory) -> None:
        self.context = Context(pool=pool, hub=hub, replies=replies, replicas=replicas)
        replies.register(pure_voice.ID, pure_voice.VoiceReplies())
        replies.register(task_memory.ID, CallerReplies())

    @staticmethod
    def all() -> list[Prototype]:
        return list(PROTOTYPES.values())

    async def view(self, user_id: UUID, prototype_id: str) -> PrototypeView:
        prototype = _prototype(prototype_id)
        state = await prototype.state(self.context, user_id)
        recent = await interactions.list_recent(self.context.pool, user_id, prototype.id, RECENT_INTERACTIONS)
        return PrototypeView(prototype, state, recent)

    async def act(self, user_id: UUID, prototype_id: str, action_name: str, params: dict[str, Any]) -> ActionDone:
        """Run an action; its params are validated against the action's struct (errors name the field)."""
        prototype = _prototype(prototype_id)
        action = prototype.actions.get(action_name)
        if action is None:
            known = ", ".join(prototype.actions) or "none"
            raise UnknownAction(f"{prototype.id} has no action {action_name!r} (actions: {known})")
        try:
            outcome = await action.handler(self.context, user_id, convert(params, action.body, "params"))
        except store_errors.InsufficientFunds as exc:
            raise InsufficientFunds(str(exc)) from None
        return ActionDone(outcome.result, outcome.interaction.id)


def _prototype(prototype_id: str) -> Prototype:
    prototype = PROTOTYPES.get(prototype_id)
    if prototype is None:
        raise PrototypeNotFound(f"no prototype {prototype_id!r}")
    return prototype
