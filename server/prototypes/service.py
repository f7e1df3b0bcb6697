"""The prototypes as a service: describe them, show a user's state in one, run an action."""

from __future__ import annotations

from typing import Any, NamedTuple
from uuid import UUID

import asyncpg

from ..config import Settings
from ..context.conversation import Conversations
from ..errors import InsufficientFunds, PrototypeNotFound, UnknownAction
from ..hub.hub import Hub
from ..replies import ReplicaDirectory, Replies
from ..store import errors as store_errors
from ..store import interactions, ledger
from ..store.ledger import Entry as Entry  # re-exported, with Interaction: what the transports show
from ..store.records import Interaction as Interaction
from . import (
    bonding_replicas,
    mcp_resources,
    pure_voice,
    task_memory,
    token_gated_memories,
    token_guided_evolution,
    tools,
)
from .base import Context, Prototype, convert
from .registry import PROTOTYPES
from .scheduler import Scheduler
from .tasks import TaskService

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
    def __init__(
        self,
        pool: asyncpg.Pool,
        hub: Hub,
        replies: Replies,
        replicas: ReplicaDirectory,
        settings: Settings,
        *,
        conversations: Conversations,
    ) -> None:
        self.tasks = TaskService(pool, self.due_work_added)
        self.context = Context(
            pool=pool,
            hub=hub,
            replies=replies,
            replicas=replicas,
            settings=settings,
            conversations=conversations,
            tasks=self.tasks,
        )
        replies.register(pure_voice.ID, pure_voice.VoiceReplies(self.context))
        self.scheduler = Scheduler(
            self.context,
            [
                task_memory.remind_due_tasks,
                token_gated_memories.lapse_due_stakes,
                bonding_replicas.expire_due_bonds,
                pure_voice.place_due_calls,
                pure_voice.expire_calls,
            ],
            settings.scheduler_interval,
        )

    def start(self) -> None:
        """Start settling due work (reminders, lapsed stakes, scheduled and expiring calls)."""
        self.scheduler.start()

    async def stop(self) -> None:
        await self.scheduler.stop()
        self.context.voice.close()

    async def seed(self) -> None:
        """Give the local replica's personas the memories they ship with (a real Sensay's are the operator's)."""
        if self.context.settings.local_replica:
            await token_gated_memories.seed_local_memories(self.context)

    async def seed_memory(self, params: token_gated_memories.SeedMemory) -> token_gated_memories.MemoryView:
        """Add or re-tier a house memory of a replica (the operator's seeding)."""
        return await token_gated_memories.seed_memory(self.context, params)

    async def evolutions(self, user_id: UUID) -> dict[str, token_guided_evolution.Evolved]:
        """Replica id -> the path and level the user has evolved it to (only evolved replicas)."""
        return await token_guided_evolution.evolved(self.context, user_id)

    async def call_tool(self, user_id: UUID, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Run one tool of the MCP catalogue as the user (what ``/mcp`` serves)."""
        try:
            return await tools.call_tool(self.context, user_id, name, arguments)
        except store_errors.InsufficientFunds as exc:
            raise InsufficientFunds(str(exc)) from None

    async def list_mcp_resources(self, user_id: UUID) -> list[mcp_resources.HubResource]:
        """The user's tasks, conversations and replicas as MCP resources."""
        return await mcp_resources.list_resources(self.context, user_id)

    async def read_mcp_resource(self, user_id: UUID, uri: str) -> dict[str, Any]:
        """One of the user's MCP resources as JSON; :class:`~server.errors.NotFound` if the URI names none."""
        return await mcp_resources.read_resource(self.context, user_id, uri)

    async def list_mcp_prompts(self, user_id: UUID) -> list[mcp_resources.ReplicaPrompt]:
        """One MCP prompt per replica the user can talk to."""
        return await mcp_resources.list_prompts(self.context, user_id)

    async def mcp_prompt(self, user_id: UUID, name: str, arguments: dict[str, str]) -> tuple[str, str]:
        """A replica's prompt: its description and its message."""
        return await mcp_resources.get_prompt(self.context, user_id, name, arguments)

    async def evolution_nft(self, user_id: UUID, replica_id: str, level: int) -> dict[str, Any]:
        """The mock ERC-721 metadata of an evolution level the user's replica reached."""
        return await token_guided_evolution.nft_metadata(self.context, user_id, replica_id, level)

    async def voice_transcript(self, user_id: UUID, call_id: UUID, *, after: int, limit: int) -> pure_voice.Transcript:
        """A Pure Voice call of the user and a page of its transcript, in order."""
        return await pure_voice.transcript(self.context, user_id, call_id, after=after, limit=limit)

    def due_work_added(self) -> None:
        """Something now has a due time (a task, a call): look for due work at once rather than at the next tick."""
        self.scheduler.wake()

    @staticmethod
    def all() -> list[Prototype]:
        return list(PROTOTYPES.values())

    async def view(
        self, user_id: UUID, prototype_id: str, *, limit: int = RECENT_INTERACTIONS, before: int | None = None
    ) -> PrototypeView:
        """The prototype, the user's state in it, and a page of their records (newest first, before ``before``)."""
        prototype = _prototype(prototype_id)
        state = await prototype.state(self.context, user_id)
        recent = await interactions.list_recent(self.context.pool, user_id, prototype.id, limit, before=before)
        return PrototypeView(prototype, state, recent)

    async def ledger(self, user_id: UUID, *, limit: int, before: int | None) -> tuple[ledger.Account, list[Entry]]:
        """The user's $SNSY account and a page of its journal, newest first."""
        async with self.context.pool.acquire() as conn:
            return await ledger.get_account(conn, user_id), await ledger.history(
                conn, user_id, before=before, limit=limit
            )

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
