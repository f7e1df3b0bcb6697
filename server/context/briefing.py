"""What a replica is told beyond the words it answers: one place for chat, rooms and task-memory chat.

A replica's context for a user holds the shared memories of the user's active bonds that include it (Bonding
Replicas), the memories of it the user has unlocked (Token-Gated Memories), and its evolution path and level
(Token-Guided Evolution); in the user's own chat also their open tasks, due soonest first (Replica Task Memory),
so the replica can bring one up. In a room, the context is the room creator's without their tasks: the room is
theirs, and its replies are seen by every member.

How it travels: Sensay keeps each conversation's history itself and we send only the newest message, so the
context is put before a message as one bracketed preamble **only when it differs from what that replica last saw
in that conversation** (a fingerprint per asker and replica, in ``replica_briefings``), and counts as seen once the
reply to it is kept. A user's Sensay history thus holds each version of their context once, not with every
message; our own stored messages never hold it. When everything is gone (a bond ended, a stake lapsed), the
replica is told once that what it was told before no longer applies. A prompt asked out of Sensay's history
(``skip_chat_history``, e.g. a task command's outcome) sees no earlier turn, so it carries the whole context, and
nothing is marked as seen.
"""

from __future__ import annotations

import hashlib
from typing import Final, NamedTuple
from uuid import UUID

import asyncpg

from ..replies import ReplyJob
from ..store import briefings
from ..store.users import Executor
from .evolution_paths import MAX_LEVEL, PATHS

SHARED_LIMIT: Final = 20
UNLOCKED_LIMIT: Final = 20
TASKS_LIMIT: Final = 10
TASKS_HEADING: Final = "The user's open tasks, due soonest first (bring one up when it helps them):"
LINE_CHARS: Final = 500
OPENING: Final = "[Context from Sensay Hub, not said by anyone in this conversation."
WITHDRAWN: Final = f"{OPENING} The memories, evolution and tasks you were told of before no longer apply.]"


class ReplicaContext(NamedTuple):
    """What a replica may draw on when it talks to one user."""

    shared: list[str]
    """Memories of the user's active bonds that include the replica, oldest first."""
    unlocked: list[tuple[str, str]]
    """(tier, memory) of the replica's memories the user has unlocked, lowest tier first."""
    evolution: tuple[str, int] | None
    """(path, level) the user has evolved the replica to."""
    tasks: tuple[str, ...] = ()
    """The user's open tasks as the replica reads them, due soonest first (only in the user's own chat)."""


class Briefing(NamedTuple):
    """The preamble to put before a prompt (``None``: the replica already knows), the context's fingerprint, and
    the whole context (``""``: none), for a prompt asked out of Sensay's history, which sees no earlier turn."""

    preamble: str | None
    fingerprint: str
    text: str = ""

    @property
    def sent(self) -> str | None:
        """The fingerprint a reply job carries (``ReplyJob.briefing``) when the preamble is sent, else ``None``."""
        return self.fingerprint if self.preamble is not None else None


def render(context: ReplicaContext) -> str:
    """The context as the replica reads it; ``""`` when there is nothing to tell."""
    parts: list[str] = []
    if context.shared:
        parts.append("Shared memories from your bonded replicas:")
        parts += [f"- {_line(memory)}" for memory in context.shared]
    if context.unlocked:
        parts.append("Your memories this user has unlocked:")
        parts += [f"- ({tier}) {_line(memory)}" for tier, memory in context.unlocked]
    if context.evolution is not None:
        path, level = context.evolution
        parts.append(
            f"You have evolved along the {path} path to level {level} of {MAX_LEVEL}: {PATHS.get(path, path)} "
            "Let it shape how you answer, the more the higher the level."
        )
    if context.tasks:
        parts.append(TASKS_HEADING)
        parts += [f"- {task}" for task in context.tasks]
    if not parts:
        return ""
    return "\n".join([OPENING, *parts]) + "]"


async def brief(
    pool: asyncpg.Pool, *, asker: str, user_id: UUID, replica_id: str, with_tasks: bool = False
) -> Briefing:
    """What to tell ``replica_id`` in its conversation with ``asker`` (a user, or a room acting for ``user_id``;
    ``with_tasks``: the user's open tasks too, never in a room, whose replies every member reads)."""
    found = await briefings.inputs(
        pool,
        asker,
        user_id,
        replica_id,
        shared_limit=SHARED_LIMIT,
        unlocked_limit=UNLOCKED_LIMIT,
        tasks_limit=TASKS_LIMIT if with_tasks else 0,
    )
    told_tasks = tuple(
        f'task {number}: "{_line(description)}"' + (f" (due {due:%a %d %b %Y %H:%M %Z})" if due else "")
        for number, description, due in found.tasks
    )
    text = render(ReplicaContext(found.shared, found.unlocked, found.evolution, told_tasks))
    seen = found.seen
    fingerprint = hashlib.sha256(text.encode()).hexdigest()[:32]
    if seen == fingerprint or (seen is None and not text):
        return Briefing(None, fingerprint, text)
    return Briefing(text or WITHDRAWN, fingerprint, text)


def prompt_with(briefing: Briefing, prompt: str, *, out_of_history: bool = False) -> str:
    """``prompt`` with the briefing's preamble before it, when there is one; ``out_of_history`` (Sensay's
    ``skip_chat_history``: no earlier turn is seen, and this one is not kept) with the whole context, if any."""
    told = briefing.text if out_of_history else briefing.preamble
    return f"{told}\n\n{prompt}" if told else prompt


async def kept(db: Executor, job: ReplyJob) -> None:
    """The reply to ``job`` is kept: the replica has seen the context its prompt carried."""
    if job.briefing is not None:
        await briefings.mark_seen(db, job.asker, job.replica_id, job.briefing)


def _line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= LINE_CHARS else flat[: LINE_CHARS - 1] + "…"
