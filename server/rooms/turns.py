"""Who speaks next in a room, and when a run ends: one pure planner for every mode, no I/O.

A *run* starts with a user's message. :meth:`TurnPlanner.next` returns one decision at a time; a decision
that needs a replica's answer is settled by the matching method before ``next`` is called again:

- :class:`Speak`: a replica takes a turn with an instruction; settle with :meth:`TurnPlanner.record`.
- :class:`AskModerator`: the moderator names the next speaker; :meth:`TurnPlanner.picked` turns its answer
  into the :class:`Speak` to carry out.
- :class:`EnterPhase`: a phased mode starts its next phase (nothing to settle: announce it).
- :class:`Vote`: every voter chooses a proposal; :meth:`TurnPlanner.counted` counts their answers.
- :class:`Judge`: the judge decides whether the speakers agree or the goal is met; :meth:`TurnPlanner.judged`.
- :class:`Finished`: the run is over, with its reason.

Free modes (see ``modes.py``): ``natural`` (replicas named answer, in the order named; if nobody is named,
the next in rotation; a reply naming another replica hands it the floor), ``round_robin`` (everyone once,
rotating from run to run), ``topic`` (as round robin, on the room's topic), ``adversarial`` (replicas
alternate, each arguing against the last, until the turn limit) and ``moderated`` (a moderator replica
names each next speaker; it never speaks itself and nobody speaks twice in a row). Phased modes go through
their phases. Whatever the mode, a run also ends at the turn budget, and, when the room has a goal or asks
for consensus, when the judge finds the goal met or the speakers agreeing: the judge is asked after every
round (every speaker once, or a phase) and before any other ending.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from ..store.records import RoomMode
from . import asking, modes
from .asking import Seat, Test, Verdict, VoteResult

TURN_LIMIT: Final = "turn limit"
DONE: Final = "done"
CONSENSUS: Final = "consensus"
GOAL_REACHED: Final = "goal reached"
DECIDED_BY_VOTE: Final = "decided by vote"


@dataclass(frozen=True)
class Speak:
    """``seat`` takes the next turn, told ``instruction`` (``phase``: the phase's title, in phased modes)."""

    seat: Seat
    instruction: str
    phase: str | None = None


@dataclass(frozen=True)
class AskModerator:
    """The moderator must name the next speaker among ``candidates``, answering ``question``."""

    moderator_id: str
    candidates: tuple[Seat, ...]
    question: str


@dataclass(frozen=True)
class EnterPhase:
    """Phase ``index`` (1-based) of ``count`` begins."""

    phase: modes.Phase
    index: int
    count: int


@dataclass(frozen=True)
class Vote:
    """Every voter answers its own question (it may not vote for itself)."""

    questions: tuple[tuple[Seat, str], ...]


@dataclass(frozen=True)
class Judge:
    """The judge answers ``question`` about ``test``."""

    judge: Seat
    test: Test
    question: str


@dataclass(frozen=True)
class Finished:
    """The run is over: ``done``, ``turn limit``, ``consensus``, ``goal reached`` or ``decided by vote``."""

    reason: str


Decision = Speak | AskModerator | EnterPhase | Vote | Judge | Finished


class PlannerError(RuntimeError):
    """The planner was driven out of order (a decision was not settled, or settled twice)."""


@dataclass(frozen=True)
class Turn:
    seat: Seat
    text: str


@dataclass
class TurnPlanner:
    """Plans one run. ``previous`` is the replica that spoke last in the room before this run.

    ``moderator_id`` is the moderator (``moderated``) or the lead (``six_thinking_hats``, ``swot``);
    ``max_turns`` ``None`` takes the mode's default; ``consensus`` ``None`` the mode's default.
    """

    mode: RoomMode
    seats: list[Seat]
    trigger: str
    max_turns: int | None = None
    previous: str | None = None
    moderator_id: str | None = None
    topic: str | None = None
    goal: str | None = None
    consensus: bool | None = None
    judge_id: str | None = None
    turns: list[Turn] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    vote: VoteResult | None = None
    budget: int = field(default=0, init=False)
    """Replica turns the run may take: ``max_turns``, or the mode's default."""
    roles: dict[str, list[str]] = field(default_factory=dict, init=False)
    """Each replica's own phases in a structured mode (:func:`modes.roles`), else empty."""
    _pending: Decision | None = field(default=None, init=False, repr=False)
    _finished: Finished | None = field(default=None, init=False, repr=False)
    _plan: tuple[modes.Phase, ...] = field(default=(), init=False, repr=False)
    _phase: int = field(default=-1, init=False, repr=False)
    _queue: list[Seat] = field(default_factory=list, init=False, repr=False)
    _judged: dict[Test, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode == "moderated" and self.moderator_id is None and self.seats:
            self.moderator_id = self.seats[0].replica_id
        if self.consensus is None:
            self.consensus = self.mode in modes.CONSENSUS_BY_DEFAULT
        self.roles = modes.roles(self.mode, [s.replica_id for s in self.speakers], self.moderator_id)
        if self.roles and self.moderator_id is None:
            self.moderator_id = self.seats[0].replica_id  # the lead keeps its role from run to run
        self.budget = self.max_turns or modes.default_turns(self.mode, len(self.speakers))
        self._plan = modes.phase_plan(self.mode, len(self.speakers), self.budget)

    # -- who is who ------------------------------------------------------------------------------

    @property
    def speakers(self) -> list[Seat]:
        """Seats that may take turns (everyone but the moderator of a moderated room)."""
        if self.mode != "moderated":
            return list(self.seats)
        return [s for s in self.seats if s.replica_id != self.moderator_id]

    @property
    def judge(self) -> Seat:
        """``judge_id``, else the moderator or lead, else the first replica."""
        for wanted in (self.judge_id, self.moderator_id):
            for seat in self.seats:
                if seat.replica_id == wanted:
                    return seat
        return self.seats[0]

    @property
    def tests(self) -> tuple[Test, ...]:
        """What the judge checks, in order: the goal, then consensus."""
        tests: list[Test] = []
        if self.goal:
            tests.append("goal")
        if self.consensus:
            tests.append("consensus")
        return tuple(tests)

    # -- the decisions ---------------------------------------------------------------------------

    def next(self) -> Decision:
        """What happens next; the previous decision must have been settled."""
        if self._pending is not None:
            raise PlannerError(f"settle {type(self._pending).__name__} before asking for the next decision")
        if self._finished is not None:
            return self._finished
        for verdict in self.verdicts:
            if verdict.met and verdict.at_turn == len(self.turns):
                return self._finish(GOAL_REACHED if verdict.test == "goal" else CONSENSUS)
        if not self.speakers:
            return self._finish(DONE)
        if (due := self._judgement(finishing=False)) is not None:
            return self._hold(due)
        if len(self.turns) >= self.budget and self._more_to_say():
            return self._hold(self._judgement(finishing=True) or self._finish(TURN_LIMIT))
        step = self._phased_step() if modes.is_phased(self.mode) else self._free_step()
        if isinstance(step, Finished):
            return self._hold(self._judgement(finishing=True) or self._finish(step.reason))
        return self._hold(step)

    def record(self, seat: Seat, text: str) -> None:
        """``seat`` has spoken ``text`` (settles a :class:`Speak`)."""
        pending = self._pending
        if not isinstance(pending, Speak) or pending.seat != seat:
            raise PlannerError(f"{seat.name} was not given the floor")
        self._pending = None
        if self._queue and self._queue[0] == seat:
            self._queue.pop(0)
        self.turns.append(Turn(seat, text))

    def picked(self, answer: str) -> Speak:
        """The moderator's answer as the turn to carry out (settles :class:`AskModerator`, expects a record).

        An answer naming no candidate gives the floor to the rotation's next candidate.
        """
        pending = self._pending
        if not isinstance(pending, AskModerator):
            raise PlannerError("the moderator was not asked")
        candidates = list(pending.candidates)
        named = asking.mentioned(answer, candidates)
        if named:
            seat = named[0]
        else:
            rotation = [s for s in self._rotation() if s in candidates]
            seat = rotation[len(self.turns) % len(rotation)]
        speak = Speak(seat, modes.FREE_INSTRUCTIONS["moderated"])
        self._pending = speak
        return speak

    def counted(self, answers: Sequence[tuple[Seat, str]]) -> VoteResult:
        """Count the voters' answers (settles :class:`Vote`)."""
        if not isinstance(self._pending, Vote):
            raise PlannerError("no vote was called")
        self._pending = None
        self.vote = asking.count_votes(answers, self._proposers())
        return self.vote

    def judged(self, answer: str) -> Verdict:
        """The judge's answer as a verdict (settles :class:`Judge`)."""
        pending = self._pending
        if not isinstance(pending, Judge):
            raise PlannerError("the judge was not asked")
        self._pending = None
        verdict = asking.read_verdict(pending.test, pending.judge.replica_id, answer, len(self.turns))
        self.verdicts.append(verdict)
        self._judged[pending.test] = len(self.turns)
        return verdict

    # -- internals -------------------------------------------------------------------------------

    def _hold(self, decision: Decision) -> Decision:
        if isinstance(decision, (Speak, AskModerator, Vote, Judge)):
            self._pending = decision
        return decision

    def _finish(self, reason: str) -> Finished:
        self._finished = Finished(reason)
        return self._finished

    def _rotation(self) -> list[Seat]:
        seats = self.speakers
        ids = [s.replica_id for s in seats]
        start = (ids.index(self.previous) + 1) % len(seats) if self.previous in ids else 0
        return seats[start:] + seats[:start]

    def _last_text(self) -> str:
        return self.turns[-1].text if self.turns else self.trigger

    def _judgement(self, *, finishing: bool) -> Judge | None:
        """The judge's next question when one is due: after a round, or before the run ends otherwise."""
        spoken = {t.seat.replica_id for t in self.turns}
        for test in self.tests:
            since = len(self.turns) - self._judged.get(test, 0)
            if since == 0 or (test == "consensus" and len(spoken) < 2):
                continue
            if finishing or self._round_complete(since):
                said = [(t.seat.name, t.text) for t in self.turns]
                return Judge(self.judge, test, asking.judge_question(test, said, self.goal))
        return None

    def _more_to_say(self) -> bool:
        """Whether the mode would give anyone another turn (the budget aside)."""
        if not modes.is_phased(self.mode):
            return not isinstance(self._free_step(), Finished)
        return bool(self._queue) or any(p.takers == "ballot" or self._takers(p) for p in self._plan[self._phase + 1 :])

    def _round_complete(self, since: int) -> bool:
        if modes.is_phased(self.mode):
            return self._phase >= 0 and not self._queue and self._plan[self._phase].takers != "ballot"
        return since >= len(self.speakers)

    # -- free modes ------------------------------------------------------------------------------

    def _free_step(self) -> Decision:
        seat: Seat | None
        taken = len(self.turns)
        match self.mode:
            case "natural":
                seat = self._natural()
            case "adversarial":
                order = self._rotation()
                seat = None if len(order) == 1 and taken else order[taken % len(order)]
            case "moderated":
                assert self.moderator_id is not None
                last = self.turns[-1].seat.replica_id if self.turns else None
                candidates = [s for s in self.speakers if s.replica_id != last] or self.speakers
                question = asking.moderator_question(self._last_text(), candidates)
                return AskModerator(self.moderator_id, tuple(candidates), question)
            case _:  # round_robin, topic
                order = self._rotation()
                seat = order[taken] if taken < len(order) else None
        if seat is None:
            return Finished(DONE)
        return Speak(seat, modes.FREE_INSTRUCTIONS[self.mode].format(topic=self.topic or ""))

    def _natural(self) -> Seat | None:
        spoken = [t.seat.replica_id for t in self.turns]
        named = [s for s in asking.mentioned(self._last_text(), self.speakers) if s.replica_id not in spoken]
        if not spoken:
            return named[0] if named else self._rotation()[0]
        return named[0] if named else None

    # -- phased modes ----------------------------------------------------------------------------

    def _phased_step(self) -> Decision:
        if self._queue:
            phase, seat = self._plan[self._phase], self._queue[0]
            return Speak(seat, self._instruction(phase, seat), phase.title)
        if self._phase >= 0 and self._plan[self._phase].takers == "ballot" and self.vote is None:
            proposers = self._proposers()
            if len(proposers) > 1:
                voters = [s for s in self._rotation() if s in proposers]
                return Vote(tuple((v, asking.ballot_question(self._proposals(), self._options(v))) for v in voters))
        while self._phase + 1 < len(self._plan):
            self._phase += 1
            phase = self._plan[self._phase]
            self._queue = self._takers(phase)
            if self._queue or phase.takers == "ballot":
                return EnterPhase(phase, self._phase + 1, len(self._plan))
        if self.mode in modes.REPEATING:  # its rounds were as many as the budget allowed
            return Finished(TURN_LIMIT)
        return Finished(DECIDED_BY_VOTE if self.vote is not None else DONE)

    def _instruction(self, phase: modes.Phase, seat: Seat) -> str:
        """The phase's instruction, and in a structured mode the roles that are the speaker's own."""
        own = self.roles.get(seat.replica_id)
        if not own:
            return phase.instruction
        titles = list(dict.fromkeys(p.title for p in self._plan if p.name in own))
        return f"{phase.instruction} Your role in this session: {'; '.join(titles)}."

    def _takers(self, phase: modes.Phase) -> list[Seat]:
        order = self._rotation()
        match phase.takers:
            case "own":
                return [s for s in order if phase.name in self.roles.get(s.replica_id, ())]
            case "all":
                return order
            case "lead":
                lead = [s for s in order if s.replica_id == self.moderator_id]
                return lead or order[:1]
            case "expert":
                return [self._expert()]
            case "others":
                return [s for s in order if s != self._expert()]
            case "winner":
                if self.vote is not None:
                    return [s for s in order if s.replica_id == self.vote.winner]
                proposers = self._proposers()  # nobody to vote against: the only proposal is the decision
                return proposers[:1]
            case "ballot":
                return []

    def _expert(self) -> Seat:
        """The speaker the question names first; else the one whose profile shares most words with it."""
        order = self._rotation()
        named = asking.mentioned(self.trigger, order)
        if named:
            return named[0]
        words = _words(self.trigger)
        return max(order, key=lambda s: len(words & _words(f"{s.name} {s.profile}")))

    def _proposers(self) -> list[Seat]:
        """Who has spoken in the run (the proposals, when the vote is called), in the order they first spoke."""
        return list(dict.fromkeys(t.seat for t in self.turns))

    def _proposals(self) -> list[tuple[str, str]]:
        return [(t.seat.name, t.text) for t in self.turns]

    def _options(self, voter: Seat) -> list[Seat]:
        return [p for p in self._proposers() if p != voter]


def _words(text: str) -> set[str]:
    """Content words (four letters or more) of ``text``, lowercased."""
    return set(re.findall(r"[a-z]{4,}", text.lower()))
