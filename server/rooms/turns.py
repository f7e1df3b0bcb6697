"""Who speaks next in a room: one pure planner for the five modes, no I/O.

A *run* starts with a user's message. The planner decides, one turn at a time, what happens next:
:class:`Speak` (a replica takes the turn), :class:`AskModerator` (the moderator replica must pick the
speaker: the conductor asks it and hands the answer to :meth:`TurnPlanner.resolve_pick`) or
:class:`Finished` (with the reason). The conductor enforces the time limit and acts on the decisions.

- ``natural``: replicas addressed by name answer, in the order named; if nobody is named, the next replica
  in rotation answers. A reply that names another replica hands it the floor.
- ``round_robin``: every replica answers once, in a fixed order that rotates from run to run.
- ``topic``: as round robin, each prompted to stay on the room's topic and build on the previous turn.
- ``adversarial``: replicas alternate, each prompted to argue against the previous turn, until the limit.
- ``moderated``: a moderator replica picks each next speaker among the others; it never speaks itself and
  nobody gets the floor twice in a row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from ..store.records import RoomMode

INSTRUCTIONS: Final[dict[RoomMode, str]] = {
    "natural": "Reply to the conversation as yourself.",
    "round_robin": "It is your turn: add your view to the conversation.",
    "topic": 'Stay on the topic "{topic}" and build on the previous turn.',
    "adversarial": "Argue against the previous turn, politely but firmly.",
    "moderated": "The moderator has given you the floor: answer the conversation.",
}
TURN_LIMIT: Final = "turn limit"
DONE: Final = "done"


@dataclass(frozen=True)
class Seat:
    replica_id: str
    name: str


@dataclass(frozen=True)
class Speak:
    """``seat`` takes the next turn."""

    seat: Seat


@dataclass(frozen=True)
class AskModerator:
    """The moderator must name the next speaker among ``candidates``."""

    moderator_id: str
    candidates: tuple[Seat, ...]


@dataclass(frozen=True)
class Finished:
    """The run is over: ``done`` (nobody left to speak) or ``turn limit``."""

    reason: str


Decision = Speak | AskModerator | Finished


def mentioned(text: str, seats: list[Seat]) -> list[Seat]:
    """Seats addressed in ``text`` by full or first name, in the order they appear."""
    found: list[tuple[int, Seat]] = []
    lowered = text.lower()
    for seat in seats:
        names = {seat.name.lower(), seat.name.split()[0].lower()}
        positions = [m.start() for n in names for m in re.finditer(rf"\b{re.escape(n)}\b", lowered)]
        if positions:
            found.append((min(positions), seat))
    return [seat for _, seat in sorted(found, key=lambda item: item[0])]


@dataclass
class TurnPlanner:
    """Plans one run. ``previous`` is the replica that spoke last in the room before this run."""

    mode: RoomMode
    seats: list[Seat]
    max_turns: int
    previous: str | None = None
    moderator_id: str | None = None
    spoken: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mode == "moderated" and self.moderator_id is None and self.seats:
            self.moderator_id = self.seats[0].replica_id

    @property
    def speakers(self) -> list[Seat]:
        """Seats that may take turns (everyone but the moderator)."""
        return [s for s in self.seats if s.replica_id != self.moderator_id]

    def next(self, last_text: str) -> Decision:
        """What happens after ``last_text`` (the user's message on the first turn, then each reply)."""
        if len(self.spoken) >= self.max_turns:
            return Finished(TURN_LIMIT)
        if not self.speakers:
            return Finished(DONE)
        seat: Seat | None
        match self.mode:
            case "natural":
                seat = self._natural(last_text)
            case "round_robin" | "topic":
                order = self._rotation()
                seat = order[len(self.spoken)] if len(self.spoken) < len(order) else None
            case "adversarial":
                order = self._rotation()
                seat = None if len(order) == 1 and self.spoken else order[len(self.spoken) % len(order)]
            case "moderated":
                assert self.moderator_id is not None
                return AskModerator(self.moderator_id, tuple(self._candidates()))
        return Speak(seat) if seat is not None else Finished(DONE)

    def resolve_pick(self, answer: str) -> Seat:
        """The seat the moderator named in ``answer``; the rotation's next candidate if it named none."""
        candidates = self._candidates()
        named = mentioned(answer, candidates)
        if named:
            return named[0]
        rotation = [s for s in self._rotation() if s in candidates]
        return rotation[len(self.spoken) % len(rotation)]

    def record(self, seat: Seat) -> None:
        """``seat`` has spoken."""
        self.spoken.append(seat.replica_id)

    def _rotation(self) -> list[Seat]:
        seats = self.speakers
        ids = [s.replica_id for s in seats]
        start = (ids.index(self.previous) + 1) % len(seats) if self.previous in ids else 0
        return seats[start:] + seats[:start]

    def _natural(self, last_text: str) -> Seat | None:
        named = [s for s in mentioned(last_text, self.speakers) if s.replica_id not in self.spoken]
        if not self.spoken:
            return named[0] if named else self._rotation()[0]
        if self.spoken[-1] in {s.replica_id for s in named}:
            named = [s for s in named if s.replica_id != self.spoken[-1]]
        return named[0] if named else None

    def _candidates(self) -> list[Seat]:
        """Who the moderator may call on next: anyone but the last speaker."""
        last = self.spoken[-1] if self.spoken else None
        return [s for s in self.speakers if s.replica_id != last] or self.speakers
