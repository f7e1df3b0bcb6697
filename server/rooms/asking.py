"""The questions a run asks its replicas besides their turns, and how the answers are read (pure, no I/O).

A moderator names the next speaker, every speaker votes for a proposal, a judge decides whether the speakers
agree or the room's goal is met. Each question ends with one line listing the allowed answers
(``Answer with exactly one of: A | B``); an answer counts as the option it mentions first, so a replica may
explain itself after the choice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

CHOICE_PREFIX: Final = "Answer with exactly one of: "
LINE_CHARS: Final = 600
SUMMARY_CHARS: Final = 300
Test = Literal["goal", "consensus"]
VERDICT_OPTIONS: Final[dict[Test, tuple[str, str]]] = {
    "goal": ("NOT YET", "REACHED"),
    "consensus": ("DISAGREE", "AGREE"),
}
"""(not met, met) for each test; "not met" comes first, so an undecided answer does not end a run."""


@dataclass(frozen=True)
class Seat:
    """A replica of the room: its id, display name, and a profile (what it knows) for expert choice."""

    replica_id: str
    name: str
    profile: str = ""

    @property
    def aliases(self) -> tuple[str, ...]:
        """The names it answers to: the full name and the first name."""
        return tuple(dict.fromkeys((self.name, self.name.split()[0])))


@dataclass(frozen=True)
class Ballot:
    """One replica's vote: the proposer it chose (``None``: no valid choice) and its words."""

    voter: str
    choice: str | None
    text: str


@dataclass(frozen=True)
class VoteResult:
    """A counted vote. A tie goes to the earliest proposal among the tied."""

    ballots: tuple[Ballot, ...]
    tally: dict[str, int]
    winner: str
    tie: bool
    unanimous: bool


@dataclass(frozen=True)
class Verdict:
    """A judge's answer to a test, after ``at_turn`` turns of the run."""

    test: Test
    judge_id: str
    met: bool
    summary: str
    at_turn: int


def _first_position(text: str, phrases: Sequence[str]) -> int | None:
    lowered = text.lower()
    found = [m.start() for p in phrases for m in re.finditer(rf"(?<!\w){re.escape(p.lower())}(?!\w)", lowered)]
    return min(found) if found else None


def mentioned(text: str, seats: Sequence[Seat]) -> list[Seat]:
    """Seats addressed in ``text`` by full or first name, in the order they appear."""
    found = [(pos, i) for i, s in enumerate(seats) if (pos := _first_position(text, s.aliases)) is not None]
    return [seats[i] for _, i in sorted(found)]


def choose(text: str, options: Sequence[Sequence[str]]) -> int | None:
    """The index of the option (given by its aliases) that ``text`` mentions first; ``None`` if none."""
    found = [(pos, i) for i, aliases in enumerate(options) if (pos := _first_position(text, aliases)) is not None]
    return min(found)[1] if found else None


def choice_line(options: Sequence[str]) -> str:
    return CHOICE_PREFIX + " | ".join(options)


def transcript(lines: Sequence[tuple[str, str]]) -> str:
    return "\n".join(f"{who}: {text[:LINE_CHARS]}" for who, text in lines)


def moderator_question(last: str, candidates: Sequence[Seat]) -> str:
    return (
        f"You moderate the room. The last turn was:\n{last[:LINE_CHARS]}\n"
        "Who should speak next? Give the floor to whoever can best move the conversation on.\n"
        + choice_line([s.name for s in candidates])
    )


def ballot_question(proposals: Sequence[tuple[str, str]], options: Sequence[Seat]) -> str:
    return (
        f"The room votes on the proposals made in this run:\n{transcript(proposals)}\n"
        "Which proposal should the room adopt? You may not vote for your own. Name its author, then say why "
        "in one sentence.\n" + choice_line([s.name for s in options])
    )


def judge_question(test: Test, turns: Sequence[tuple[str, str]], goal: str | None) -> str:
    said = f"Here is what was said in this run:\n{transcript(turns)}\n"
    if test == "goal":
        ask = f'You judge the room. The room\'s goal: "{goal}".\n{said}Is the goal met by what was said?'
    else:
        ask = f"You judge the room.\n{said}Have the speakers come to one shared position?"
    return f"{ask} Start with your answer, then give the shared position or what is missing in one sentence.\n" + (
        choice_line(VERDICT_OPTIONS[test])
    )


def count_votes(answers: Sequence[tuple[Seat, str]], proposers: Sequence[Seat]) -> VoteResult:
    """Count the voters' answers: each names one proposer other than itself (else its ballot chooses nobody)."""
    tally = {p.replica_id: 0 for p in proposers}
    ballots: list[Ballot] = []
    for voter, answer in answers:
        options = [p for p in proposers if p.replica_id != voter.replica_id]
        picked = choose(answer, [p.aliases for p in options])
        choice = options[picked].replica_id if picked is not None else None
        if choice is not None:
            tally[choice] += 1
        ballots.append(Ballot(voter.replica_id, choice, answer[:SUMMARY_CHARS]))
    best = max(tally.values(), default=0)
    leaders = [rid for rid, votes in tally.items() if votes == best]
    choices = {b.choice for b in ballots}
    unanimous = len(ballots) > 1 and None not in choices and len(choices) == 1
    return VoteResult(tuple(ballots), tally, leaders[0], len(leaders) > 1, unanimous)


def read_verdict(test: Test, judge_id: str, answer: str, at_turn: int) -> Verdict:
    """The judge's answer: met when it names the "met" option first."""
    options = VERDICT_OPTIONS[test]
    met = choose(answer, [(o,) for o in options]) == 1
    summary = re.sub(rf"^\W*({'|'.join(map(re.escape, options))})\W*", "", answer.strip(), flags=re.IGNORECASE)
    return Verdict(test, judge_id, met, summary[:SUMMARY_CHARS], at_turn)


def turn_prompt(
    room_name: str,
    mode: str,
    lines: Sequence[tuple[str, str]],
    instruction: str,
    *,
    phase: str | None = None,
    topic: str | None = None,
    goal: str | None = None,
) -> str:
    """A replica's turn: the room's header, what was said since it last spoke, then its instruction."""
    header = [f'Room "{room_name}"', mode]
    header += [phase] if phase else []
    header += [f'topic "{topic}"'] if topic else []
    header += [f'goal "{goal}"'] if goal else []
    said = f"{transcript(lines)}\n" if lines else ""
    return f"[{', '.join(header)}]\n{said}{instruction}"
