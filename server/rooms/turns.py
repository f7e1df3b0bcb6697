"""Who speaks next in a room: one pure planner per mode, no I/O.

A *run* starts with a user's message. The planner names the replicas that answer, one turn at a time,
until it has nobody left to call or the run hits its turn limit (the conductor enforces limits).

- ``natural``: replicas addressed by name answer, in the order named; if nobody is named, the next replica
  in rotation answers. A reply that names another replica hands it the floor.
- ``round_robin``: every replica answers once, in a fixed order that rotates from run to run.
- ``topic``: as round robin, each prompted to stay on the room's topic and build on the previous turn.
- ``adversarial``: replicas alternate, each prompted to argue against the previous turn, until the limit.
- ``moderated``: a moderator replica picks each next speaker among the others (the conductor asks it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..store.records import RoomMode

INSTRUCTIONS: dict[RoomMode, str] = {
    "natural": "Reply to the conversation as yourself.",
    "round_robin": "It is your turn: add your view to the conversation.",
    "topic": 'Stay on the topic "{topic}" and build on the previous turn.',
    "adversarial": "Argue against the previous turn, politely but firmly.",
    "moderated": "The moderator has given you the floor: answer the conversation.",
}


@dataclass(frozen=True)
class Seat:
    replica_id: str
    name: str


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
    trigger: str
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

    def _rotation(self) -> list[Seat]:
        seats = self.speakers
        ids = [s.replica_id for s in seats]
        start = (ids.index(self.previous) + 1) % len(seats) if self.previous in ids else 0
        return seats[start:] + seats[:start]

    def next_speaker(self, last_text: str) -> Seat | None:
        """The next replica to speak after ``last_text`` (the trigger on the first turn), or ``None``."""
        if not self.speakers:
            return None
        if self.mode == "natural":
            return self._natural(last_text)
        if self.mode in ("round_robin", "topic"):
            order = self._rotation()
            return order[len(self.spoken)] if len(self.spoken) < len(order) else None
        if self.mode == "adversarial":
            order = self._rotation()
            if len(order) == 1 and self.spoken:
                return None  # nobody to argue with
            return order[len(self.spoken) % len(order)]
        raise ValueError(f"{self.mode} picks speakers through its moderator: use moderator_candidates()")

    def _natural(self, last_text: str) -> Seat | None:
        named = [s for s in mentioned(last_text, self.speakers) if s.replica_id not in self.spoken]
        if not self.spoken:
            return named[0] if named else self._rotation()[0]
        if self.spoken[-1] in {s.replica_id for s in named}:
            named = [s for s in named if s.replica_id != self.spoken[-1]]
        return named[0] if named else None

    def moderator_candidates(self) -> list[Seat]:
        """Who the moderator may call on next: anyone but the last speaker."""
        last = self.spoken[-1] if self.spoken else None
        return [s for s in self.speakers if s.replica_id != last] or self.speakers

    def resolve_pick(self, answer: str) -> Seat:
        """The seat the moderator named in ``answer``; the rotation's next candidate if it named none."""
        candidates = self.moderator_candidates()
        named = mentioned(answer, candidates)
        if named:
            return named[0]
        rotation = [s for s in self._rotation() if s in candidates]
        return rotation[len(self.spoken) % len(rotation)]

    def record(self, seat: Seat) -> None:
        self.spoken.append(seat.replica_id)
