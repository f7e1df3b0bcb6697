"""A room's run as the conductor carries it out: its state, what it started from and how far it got."""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field
from typing import NamedTuple

from protocol import StoredMessage

from ..replies.leases import Claim
from ..store.records import Room


class RunState(enum.Enum):
    RUNNING = "running"
    STOPPED = "stopped"
    IDLE = "idle"


@dataclass
class Run:
    room: Room
    trigger: StoredMessage
    task: asyncio.Task[None] | None = None
    turns: int = 0
    superseded: bool = False
    """A newer message came: the run ends after its current turn."""
    previous: str | None = None
    """The replica that spoke last before the run (round robin continues from it)."""
    claim: Claim | None = None
    """The run's lease (``None`` until claimed, or when the database could not record it)."""
    taken_up: bool = False
    """The run was taken up from a process that died: a turn it was streaming starts over."""
    started: float = 0.0
    """When the run began (loop time), after the run before it ended: its time limit counts from here."""

    @property
    def fresh(self) -> bool:
        """The run's first attempt: none of its turns can have been kept before."""
        return self.claim is not None and self.claim.attempt == 1 and not self.taken_up

    last: StoredMessage = field(init=False)
    """The latest message of the run: the trigger, then each reply."""

    def __post_init__(self) -> None:
        self.last = self.trigger


class Waiting(NamedTuple):
    """A message whose run starts when the room's run under way ends (``claim``: taken up from a dead process)."""

    room: Room
    message: StoredMessage
    claim: Claim | None


@dataclass(frozen=True)
class Ending:
    """How a room's last run ended, announced once no run follows it."""

    run: Run
    state: RunState
    reason: str
