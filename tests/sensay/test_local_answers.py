"""The local replica answers in character from what the hub tells it, and never quotes the hub's framing.

The prompts here are built with the hub's own functions (context briefings, room turns, task outcomes), so a
change of their wording that the local replica no longer recognises fails here, not on a demo screen.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest_asyncio

from server.context.briefing import WITHDRAWN, Briefing, ReplicaContext, prompt_with, render
from server.context.task_list import CommandOutcome, outcome_prompt
from server.rooms.asking import turn_prompt
from server.rooms.modes import FREE_INSTRUCTIONS, PHASES
from server.sensay.client import SensayClient, build_http_client
from server.sensay.local import ADA_LOVELACE_UUID, SOCRATES_UUID, TASK_MEMORY_UUID, LocalReplica

from .conftest import SECRET

FRAMING = (
    "[Context",
    "Context from Sensay Hub",
    "Shared memories",
    "Let it shape",
    "[Room",
    "The user wrote",
    "Confirm this outcome",
    "Their task list was updated",
    "It is your turn",
    "round_robin",
)


@pytest_asyncio.fixture
async def client(served: tuple[LocalReplica, str]) -> AsyncIterator[SensayClient]:
    async with build_http_client(served[1], timeout=5.0) as http:
        yield SensayClient(http, organization_secret=SECRET)


@pytest_asyncio.fixture
async def user_id(client: SensayClient) -> str:
    user = str(uuid.uuid4())
    await client.ensure_user(user)
    return user


def briefed(context: ReplicaContext, prompt: str) -> str:
    text = render(context)
    return prompt_with(Briefing(text, "fingerprint", text), prompt)


def unframed(answer: str) -> str:
    quoted = [phrase for phrase in FRAMING if phrase in answer]
    assert not quoted, f"the answer quotes the hub's framing {quoted}: {answer}"
    return answer


async def test_a_briefing_is_remembered_not_quoted_until_it_is_withdrawn(client: SensayClient, user_id: str) -> None:
    """Memories and evolution told once shape every later answer of that conversation; a withdrawal ends them."""
    context = ReplicaContext(["The secret word is marmalade."], [("premium", "Ada hid a notebook.")], ("scholar", 2))
    first = unframed(await client.chat(user_id, ADA_LOVELACE_UUID, briefed(context, "what do you remember?")))
    assert first.startswith('Ada Lovelace here. You wrote: "what do you remember?". By my reckoning that is 4 words')
    assert "I remember: The secret word is marmalade. Ada hid a notebook." in first
    assert "(Evolved along the scholar path: level 2 of 5.)" in first
    later = unframed(await client.chat(user_id, ADA_LOVELACE_UUID, "and now?"))
    assert 'You wrote: "and now?"' in later and "marmalade" in later, "the replica keeps what it was told"
    gone = unframed(await client.chat(user_id, ADA_LOVELACE_UUID, f"{WITHDRAWN}\n\nstill there?"))
    assert 'You wrote: "still there?"' in gone and "I have set aside the memories" in gone
    assert "marmalade" not in gone and "Evolved" not in gone


async def test_a_task_outcome_is_confirmed_from_the_users_words(client: SensayClient, user_id: str) -> None:
    """Out of history (as the hub asks it), the outcome is confirmed and the user's own words answered."""
    outcome = CommandOutcome(uuid.uuid4(), "add", True, 'Added task 3: "buy honey".', None)
    prompt = outcome_prompt("add task buy honey", outcome)
    socrates = unframed(await client.chat(user_id, SOCRATES_UUID, prompt, skip_chat_history=True))
    assert socrates.startswith('Socrates asks: you say "add task buy honey". But what do you truly mean by "honey"?')
    assert socrates.endswith('Added task 3: "buy honey".')
    keeper = unframed(await client.chat(user_id, TASK_MEMORY_UUID, prompt, skip_chat_history=True))
    assert keeper == 'Task Memory here: your list is up to date. Added task 3: "buy honey".'


async def test_a_room_turn_answers_the_person_on_the_rooms_topic_and_goal(client: SensayClient, user_id: str) -> None:
    """A turn answers what the latest person said (not a replica before it), in its phase, keeping topic and goal
    in view; the header, the transcript's form and the instruction are not repeated."""
    lines = [("grace", "Where shall we meet?\nSomewhere quiet."), ("Socrates", "Socrates asks: what is quiet?")]
    phase = PHASES["problem_solving"][0]
    prompt = turn_prompt(
        "Ada & Socrates", "problem_solving", lines, phase.instruction, phase=phase.title, topic="venues", goal="a place"
    )
    answer = unframed(await client.chat(user_id, ADA_LOVELACE_UUID, prompt))
    assert answer.startswith('Proposals — Ada Lovelace here. grace wrote: "Where shall we meet?\nSomewhere quiet."')
    assert "All of this on our topic, venues." in answer and "Our goal stays in view: a place." in answer
    assert phase.instruction not in answer and "Socrates asks" not in answer

    free = turn_prompt("Ada & Socrates", "round_robin", lines[1:], FREE_INSTRUCTIONS["round_robin"])
    answer = unframed(await client.chat(user_id, ADA_LOVELACE_UUID, free))
    assert 'Socrates wrote: "Socrates asks: what is quiet?"' in answer, "with no person since, the last speaker"


async def test_answers_are_deterministic(client: SensayClient) -> None:
    """The same conversation gets the same answers, word for word (tests rely on them)."""
    answers = []
    for _ in range(2):
        user = str(uuid.uuid4())
        await client.ensure_user(user)
        context = ReplicaContext(["Tea at five."], [], None)
        answers.append(
            [
                await client.chat(user, SOCRATES_UUID, briefed(context, "hi")),
                await client.chat(user, SOCRATES_UUID, "again"),
            ]
        )
    assert answers[0] == answers[1]
