"""What the local replica reads in a prompt, and how its seeded personas answer it (pure, deterministic).

The hub wraps what a user said in framings a language model reads without repeating them: a context briefing
(``[Context from Sensay Hub, …]``: memories, evolution), a chatroom turn (``[Room "…", mode, …]``, the lines
said since the replica last spoke, an instruction), a task command's outcome (``The user wrote: "…". Their
task list was updated: … Confirm this outcome …``). The local replica recognises each by its text (it cannot
import the hub: ``server/sensay`` sits below it) and answers from what they carry: the user's own words, the
room's topic and goal, the outcome, the memories it knows. Tests build these framings with the hub's own
functions and check that no answer quotes them, so a change of wording on either side fails there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Final

CONTEXT_OPENING: Final = "[Context from Sensay Hub, not said by anyone in this conversation."
"""How a briefing starts (``server.context.briefing.OPENING``)."""
_WITHDRAWN_TAIL: Final = "no longer apply.]"
_SHARED_HEADING: Final = "Shared memories from your bonded replicas:"
_UNLOCKED_HEADING: Final = "Your memories this user has unlocked:"
_TASKS_HEADING: Final = "The user's open tasks, due soonest first (bring one up when it helps them):"
_EVOLVED = re.compile(r"^You have evolved along the (?P<path>\S+) path to level (?P<level>\d+) of (?P<top>\d+):")
_OUTCOME = re.compile(
    r'^The user wrote: "(?P<words>.*)"\. Their task list was updated: (?P<outcome>.*?) '
    r"Confirm this outcome to the user in your answer\.$",
    re.DOTALL,
)
_ROOM_HEADER = re.compile(r'^\[Room "(?P<name>.*?)", (?P<rest>.*)\]$')
_QUOTED_SETTING = re.compile(r'(?:^|, )(?P<key>topic|goal) "(?P<value>[^"]*)"')
_LINE = re.compile(r"^(?P<who>[^\s:][^:\n]{0,80}?): (?P<text>.*)$")


@dataclass(frozen=True)
class Briefing:
    """What a context briefing told the replica (``withdrawn``: forget what came before)."""

    shared: tuple[str, ...] = ()
    unlocked: tuple[str, ...] = ()
    evolution: tuple[str, int, int] | None = None
    """(path, level, top level)."""
    tasks: tuple[str, ...] = ()
    """The user's open tasks, due soonest first (``task 3: "buy milk" (due …)``)."""
    withdrawn: bool = False

    @property
    def memories(self) -> tuple[str, ...]:
        return self.shared + self.unlocked


@dataclass(frozen=True)
class Said:
    """One prompt as the replica understands it."""

    words: str
    """What to answer: the user's own words (in a room: the latest line a person said)."""
    who: str | None = None
    """Who said ``words`` in a room (``None``: the user of this conversation)."""
    briefing: Briefing | None = None
    """A briefing the prompt carried (``None``: none)."""
    outcome: str | None = None
    """What the user's task command did, to confirm."""
    phase: str | None = None
    """The room's phase this turn speaks to (its title)."""
    topic: str | None = None
    goal: str | None = None


@dataclass
class Knowledge:
    """What a replica knows in one conversation from the briefings it was told."""

    memories: tuple[str, ...] = ()
    evolution: tuple[str, int, int] | None = None

    def learn(self, briefing: Briefing) -> None:
        self.memories, self.evolution = briefing.memories, briefing.evolution


@dataclass(frozen=True)
class Turn:
    """The replica's view of a chat turn: what was said, what it knows, and which turn of the conversation."""

    said: Said
    knows: Knowledge = field(default_factory=Knowledge)
    number: int = 1


def read(prompt: str, replica_names: Collection[str] = ()) -> Said:
    """Take the hub's framings off ``prompt``; ``replica_names`` tells replicas from people in a room's lines."""
    text, briefing = _briefing(prompt)
    outcome = _OUTCOME.match(text)
    if outcome is not None:
        return Said(outcome["words"], briefing=briefing, outcome=outcome["outcome"].strip())
    first, _, rest = text.partition("\n")
    header = _ROOM_HEADER.match(first)
    if header is None:
        return Said(text, briefing=briefing)
    settings = {m["key"]: m["value"] for m in _QUOTED_SETTING.finditer(header["rest"])}
    _mode, *phase = _QUOTED_SETTING.sub("", header["rest"]).split(", ", 1)
    room = {"phase": phase[0] if phase else None, "topic": settings.get("topic"), "goal": settings.get("goal")}
    *said, _instruction = rest.split("\n") if rest else [""]
    lines = _lines(said)
    people = [(who, words) for who, words in lines if who not in replica_names]
    if not (people or lines):
        return Said("", None, briefing, **room)
    who, words = (people or lines)[-1]
    return Said(words, who, briefing, **room)


def _briefing(prompt: str) -> tuple[str, Briefing | None]:
    if not prompt.startswith(CONTEXT_OPENING):
        return prompt, None
    told, separator, rest = prompt.partition("]\n\n")
    if not separator:
        told, rest = prompt, ""
    if told.endswith(_WITHDRAWN_TAIL[:-1]):
        return rest, Briefing(withdrawn=True)
    shared: list[str] = []
    unlocked: list[str] = []
    tasks: list[str] = []
    evolution = None
    into = shared
    for line in told.split("\n")[1:]:
        if line == _SHARED_HEADING:
            into = shared
        elif line == _UNLOCKED_HEADING:
            into = unlocked
        elif line == _TASKS_HEADING:
            into = tasks
        elif line.startswith("- "):
            into.append(re.sub(r"^\(\w+\) ", "", line[2:]) if into is unlocked else line[2:])
        elif found := _EVOLVED.match(line):
            evolution = (found["path"], int(found["level"]), int(found["top"]))
    return rest, Briefing(tuple(shared), tuple(unlocked), evolution, tuple(tasks))


def _lines(said: list[str]) -> list[tuple[str, str]]:
    """A room's transcript lines (``who: text``); a line that does not start so continues the one before."""
    lines: list[tuple[str, str]] = []
    for line in said:
        found = _LINE.match(line)
        if found is not None:
            lines.append((found["who"], found["text"]))
        elif lines:
            lines[-1] = (lines[-1][0], f"{lines[-1][1]}\n{line}")
    return lines


def answer(persona: Callable[[Turn], str], turn: Turn) -> str:
    """The persona's answer, then the outcome to confirm, the room's focus and what the replica remembers."""
    said, knows = turn.said, turn.knows
    parts = [f"{said.phase} — {persona(turn)}" if said.phase else persona(turn)]
    if said.outcome:
        parts.append(said.outcome)
    if said.topic:
        parts.append(f"All of this on our topic, {said.topic}.")
    if said.goal:
        parts.append(f"Our goal stays in view: {said.goal}.")
    if said.briefing is not None and said.briefing.withdrawn:
        parts.append("I have set aside the memories I was told of before.")
    if knows.memories:
        parts.append("I remember: " + " ".join(_sentence(m) for m in knows.memories))
    if knows.evolution is not None:
        path, level, top = knows.evolution
        parts.append(f"(Evolved along the {path} path: level {level} of {top}.)")
    if said.briefing is not None and said.briefing.tasks and not said.outcome:
        # Told of the open tasks (they changed since it last heard): it brings up the soonest due, once.
        parts.append(f"By the way, you have not done {said.briefing.tasks[0]} yet.")
    return " ".join(parts)


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."


def _you(said: Said) -> str:
    return said.who or "You"


def ada(turn: Turn) -> str:
    words = turn.said.words
    return (
        f'Ada Lovelace here. {_you(turn.said)} wrote: "{words}". By my reckoning that is {len(words.split())} words '
        f"and {sum(ch.isalpha() for ch in words)} letters, a pattern the Analytical Engine could weave as the "
        f"Jacquard loom weaves flowers (turn {turn.number})."
    )


def socrates(turn: Turn) -> str:
    said = turn.said
    found = re.findall(r"\w+", said.words)
    key = max(found, key=len) if found else "that"
    asked = f'{said.who} says "{said.words}"' if said.who else f'you say "{said.words}"'
    return (
        f'Socrates asks: {asked}. But what do you truly mean by "{key}"? '
        f"Let us examine it together, for the unexamined word is not worth speaking (turn {turn.number})."
    )


def guide(turn: Turn) -> str:
    said = turn.said
    whose = "the message" if said.who else "your message"
    return (
        f'Sensay Guide here. {_you(said)} asked: "{said.words}". Replicas remember our conversation, so this is '
        f'turn {turn.number}; read backwards {whose} is "{said.words[::-1]}".'
    )


def task_keeper(turn: Turn) -> str:
    said = turn.said
    if said.outcome:
        asked = said.outcome.startswith("Nothing was changed")
        return "Task Memory here: I need a word from you." if asked else "Task Memory here: your list is up to date."
    return (
        f'Task Memory here. {_you(said)} wrote: "{said.words}". I keep your task list: tell me what you need to do '
        f'("I need to buy milk on Friday") or did ("I called Bob"), or say "mark task 2 done", "delete task 3" or '
        f'"show my tasks" (turn {turn.number}).'
    )
