"""The local replica's replicas: the seeded personas, how one answers a turn, and how it is described."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Final

from . import answers
from .answers import Knowledge, Turn

ADA_LOVELACE_UUID: Final = "a3d1e7c0-5b2f-4c8a-9e61-7f0d4b3a2c11"
SOCRATES_UUID: Final = "5c0a1f7e-2d4b-4e9a-8b3c-6a1f0e2d9c22"
SENSAY_GUIDE_UUID: Final = "9e7b3c2a-1f4d-4a6b-8c5e-2d0f1a3b4c33"
TASK_MEMORY_UUID: Final = "7d4e2b1c-3a5f-4b6d-9e8c-1f2a3b4c5d44"

SEED_OWNER: Final = "sensay-local"
_SEED_CREATED_AT: Final = "2025-03-25T00:00:00+00:00"
DEFAULT_PROFILE_IMAGE: Final = "https://studio.sensay.io/assets/default-replica-profile.webp"
DEFAULT_MODEL: Final = "claude-haiku-4-5"
CHOICE_PREFIX: Final = "Answer with exactly one of: "
"""A question whose last line starts so is answered with one of the options listed after it (``A | B``)."""


@dataclass
class Persona:
    """One replica of the local replica: Sensay's fields and, for a seeded one, how it talks."""

    uuid: str
    name: str
    slug: str
    short_description: str
    greeting: str
    owner_id: str
    system_message: str
    purpose: str = ""
    type: str = "character"
    private: bool = False
    tags: list[str] = field(default_factory=list)
    suggested_questions: list[str] = field(default_factory=list)
    profile_image: str = DEFAULT_PROFILE_IMAGE
    model: str = DEFAULT_MODEL
    created_at: str = _SEED_CREATED_AT
    persona: Callable[[Turn], str] | None = None

    def answer(self, content: str, number: int, knows: Knowledge, replica_names: Collection[str]) -> str:
        """The answer to ``content`` on turn ``number`` of a conversation, from what the replica ``knows``."""
        chosen = _choice(content)
        if chosen is not None:
            return f"{chosen}. {self.name} chose it on turn {number}."
        said = answers.read(content, replica_names)
        if said.briefing is not None:
            knows.learn(said.briefing)
        return answers.answer(self.persona or self._plain, Turn(said, knows, number))

    def visible_to(self, user_id: str) -> bool:
        """Whether ``user_id`` may see the replica (a private one only its owner)."""
        return not self.private or self.owner_id == user_id

    def fields(self) -> dict[str, Any]:
        """The replica as ``GET /v1/replicas/{replicaUUID}`` describes it."""
        return {
            "uuid": self.uuid,
            "name": self.name,
            "slug": self.slug,
            "shortDescription": self.short_description,
            "greeting": self.greeting,
            "purpose": self.purpose,
            "type": self.type,
            "ownerID": self.owner_id,
            "private": self.private,
            "whitelistEmails": [],
            "tags": self.tags,
            "profileImage": self.profile_image,
            "suggestedQuestions": self.suggested_questions,
            "llm": {"model": self.model, "systemMessage": self.system_message, "tools": []},
        }

    def list_item(self, chat_history_count: int) -> dict[str, Any]:
        """The replica as an item of ``GET /v1/replicas``."""
        # The list still carries the deprecated snake_case fields, all required by the spec.
        return self.fields() | {
            "profile_image": self.profile_image,
            "short_description": self.short_description,
            "introduction": self.greeting,
            "created_at": self.created_at,
            "owner_uuid": None,
            "voice_enabled": False,
            "video_enabled": False,
            "chat_history_count": chat_history_count,
            "system_message": self.system_message,
            "discord_integration": None,
            "telegram_integration": None,
        }

    def _plain(self, turn: Turn) -> str:
        who = turn.said.who or "You"
        return f'{self.name} here. {who} said: "{turn.said.words}". That is what I heard on turn {turn.number}.'


def _choice(content: str) -> str | None:
    """The answer to a question ending in ``Answer with exactly one of: A | B``: the option the rest of the
    question mentions most often (whole words, any case), the first listed on a tie."""
    body, _, last = content.rstrip().rpartition("\n")
    if not last.startswith(CHOICE_PREFIX):
        return None
    options = [o.strip() for o in last.removeprefix(CHOICE_PREFIX).split("|") if o.strip()]
    if not options:
        return None
    lowered = body.lower()
    counts = [len(re.findall(rf"(?<!\w){re.escape(o.lower())}(?!\w)", lowered)) for o in options]
    return options[counts.index(max(counts))]


def seed_personas() -> list[Persona]:
    """The four replicas every local replica starts with."""
    return [
        Persona(
            uuid=ADA_LOVELACE_UUID,
            name="Ada Lovelace",
            slug="ada-lovelace",
            short_description="Mathematician and the first programmer",
            greeting="Good day! Shall we compute something delightful together?",
            owner_id=SEED_OWNER,
            system_message="You are Ada Lovelace: precise, poetic about mathematics and engines.",
            purpose="Talks about mathematics, computing and the Analytical Engine.",
            tags=["History", "Science"],
            suggested_questions=["What is the Analytical Engine?"],
            persona=answers.ada,
        ),
        Persona(
            uuid=SOCRATES_UUID,
            name="Socrates",
            slug="socrates",
            short_description="Athenian philosopher who answers with questions",
            greeting="Tell me, friend, what is it you believe you know?",
            owner_id=SEED_OWNER,
            system_message="You are Socrates: answer every claim with a probing question.",
            purpose="Examines ideas through questions.",
            tags=["Philosophy", "Wisdom"],
            suggested_questions=["What is virtue?"],
            persona=answers.socrates,
        ),
        Persona(
            uuid=SENSAY_GUIDE_UUID,
            name="Sensay Guide",
            slug="sensay-guide",
            short_description="A friendly guide to Sensay replicas",
            greeting="Hi! I can show you around the Sensay replicas.",
            owner_id=SEED_OWNER,
            system_message="You are a cheerful guide to the Sensay platform.",
            purpose="Helps people find their way around Sensay.",
            type="brand",
            tags=["Sensay", "Technology"],
            suggested_questions=["What is a replica?"],
            persona=answers.guide,
        ),
        Persona(
            uuid=TASK_MEMORY_UUID,
            name="Task Memory",
            slug="task-memory",
            short_description="Keeps your task list as you chat",
            greeting="Tell me what to remember: add task buy milk.",
            owner_id=SEED_OWNER,
            system_message="You keep the user's task list and confirm every change to it.",
            purpose="Replica Task Memory: adds, completes, lists and deletes the user's tasks in chat.",
            type="brand",
            tags=["Productivity"],
            suggested_questions=["add task buy milk", "show my tasks"],
            persona=answers.task_keeper,
        ),
    ]
