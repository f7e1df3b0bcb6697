"""The chatroom's modes as data: what each replica is asked to do, the phases of the structured modes, defaults.

Free modes (``natural``, ``round_robin``, ``topic``, ``adversarial``, ``moderated``) have one instruction and
no phases; the planner decides who speaks. Phased modes run through their phases in order; a phase is taken
by every speaker in turn (``all``), by the room's lead (``lead``: the moderator if set, else the first in
the rotation), by the replica whose profile best fits the question (``expert``) and the others (``others``),
by a vote of every speaker (``ballot``), by the winner of that vote (``winner``), or by the replicas whose role
it is (``own``: in the structured modes each replica has roles of its own, dealt by :func:`roles`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal, NamedTuple

from ..store.records import MAX_TIME_LIMIT, MAX_TURNS, RoomMode

Takers = Literal["all", "lead", "expert", "others", "ballot", "winner", "own"]


class Phase(NamedTuple):
    name: str
    title: str
    instruction: str
    takers: Takers


FREE_INSTRUCTIONS: Final[dict[RoomMode, str]] = {
    "natural": "Reply to the conversation as yourself.",
    "round_robin": "It is your turn: add your view to the conversation.",
    "topic": 'Stay on the topic "{topic}" and build on the previous turn.',
    "adversarial": "Argue against the previous turn, politely but firmly.",
    "moderated": "The moderator has given you the floor: answer the conversation.",
}

PHASES: Final[dict[RoomMode, tuple[Phase, ...]]] = {
    "problem_solving": (
        Phase("propose", "Proposals", "Propose a concrete solution to the problem, in a few sentences.", "all"),
        Phase(
            "converge",
            "Converging",
            "Weigh the proposals so far and refine them toward one solution the room can agree on; "
            "say plainly what you agree with and what you would still change.",
            "all",
        ),
    ),
    "knowledge_sharing": (
        Phase("answer", "The expert answers", "Answer the question from your own expertise.", "expert"),
        Phase(
            "add",
            "Others add and check",
            "Add what you know that the answers so far missed, and correct anything you believe is wrong.",
            "others",
        ),
        Phase(
            "synthesis",
            "Synthesis",
            "Sum up what the room now knows on the question in a few points, noting any disagreement.",
            "expert",
        ),
    ),
    "creative": (
        Phase(
            "ideas",
            "Ideas",
            'Offer one original idea for the brief, building on the previous idea ("yes, and").',
            "all",
        ),
        Phase(
            "refine",
            "Refinement",
            "Take the idea of the speaker before you and develop it further: make it more vivid and concrete.",
            "all",
        ),
    ),
    "democratic": (
        Phase("propose", "Proposals", "State your proposal for the room's decision in one or two sentences.", "all"),
        Phase("vote", "Vote", "", "ballot"),
        Phase(
            "decision",
            "Decision",
            "Your proposal won the room's vote. State the decision the room has taken, in a few sentences.",
            "winner",
        ),
    ),
    # Edward de Bono's Six Thinking Hats, each replica wearing hats of its own (see roles()): the blue hat,
    # worn by the lead, opens and closes the session; the other hats speak in turn, each from its wearers.
    "six_thinking_hats": (
        Phase("blue", "Blue hat: focus", "Blue hat: frame the question and how the room will think about it.", "lead"),
        Phase("white", "White hat: facts", "White hat: only facts and figures, and what is missing.", "own"),
        Phase("red", "Red hat: feelings", "Red hat: your feelings and intuitions, without justifying them.", "own"),
        Phase("yellow", "Yellow hat: benefits", "Yellow hat: the benefits and the reasons for optimism.", "own"),
        Phase("black", "Black hat: risks", "Black hat: the risks, weaknesses and reasons for caution.", "own"),
        Phase("green", "Green hat: ideas", "Green hat: new ideas, alternatives and possibilities.", "own"),
        Phase(
            "blue",
            "Blue hat: conclusions",
            "Blue hat: sum up what each hat brought, the conclusion and the next steps.",
            "lead",
        ),
    ),
    "swot": (
        Phase("strengths", "Strengths", "Strengths: the internal advantages to build on.", "own"),
        Phase("weaknesses", "Weaknesses", "Weaknesses: the internal shortcomings to address.", "own"),
        Phase("opportunities", "Opportunities", "Opportunities: the outside chances to seize.", "own"),
        Phase("threats", "Threats", "Threats: the outside dangers to guard against.", "own"),
        Phase(
            "strategy",
            "Strategy",
            "Combine the four quadrants into strategies: use strengths to seize opportunities, and shore up "
            "weaknesses against threats.",
            "lead",
        ),
    ),
}
"""The phases of each phased mode, in order. ``problem_solving`` repeats its last phase while turns remain."""

REPEATING: Final[frozenset[RoomMode]] = frozenset({"problem_solving"})
CONSENSUS_BY_DEFAULT: Final[frozenset[RoomMode]] = frozenset({"problem_solving"})
DEFAULT_FREE_TURNS: Final = 3
DEFAULT_ROUNDS: Final = 3
"""A repeating mode's default turns: this many rounds of every speaker."""
TIME_PER_TURN: Final = 20.0
MIN_TIME_LIMIT: Final = 60.0


def is_phased(mode: RoomMode) -> bool:
    return mode in PHASES


def phase_plan(mode: RoomMode, speakers: int, budget: int) -> tuple[Phase, ...]:
    """The phases a run goes through: a repeating mode repeats its last phase as long as the budget lasts."""
    phases = PHASES.get(mode, ())
    if mode in REPEATING and speakers:
        rounds = -(-budget // speakers)  # rounds the budget allows, the last possibly cut short
        phases = phases + (phases[-1],) * max(0, rounds - len(phases))
    return phases


def roles(mode: RoomMode, replica_ids: Sequence[str], lead: str | None) -> dict[str, list[str]]:
    """Each replica's own phases in a structured mode (empty in the others): the lead (``lead``, else the first
    replica) takes the ``lead`` phases; the ``own`` phases (hats, quadrants) are dealt in order to the other
    replicas (to the lead alone if there is none), as many times over as it takes for every replica to have one
    and every phase a wearer."""
    phases = PHASES.get(mode, ())
    own = list(dict.fromkeys(p.name for p in phases if p.takers == "own"))
    if not own or not replica_ids:
        return {}
    head = lead if lead is not None and lead in replica_ids else replica_ids[0]
    dealt: dict[str, list[str]] = {r: [] for r in replica_ids}
    dealt[head] = list(dict.fromkeys(p.name for p in phases if p.takers == "lead"))
    others = [r for r in replica_ids if r != head] or [head]
    for i in range(max(len(own), len(others))):
        dealt[others[i % len(others)]].append(own[i % len(own)])
    return {r: names for r, names in dealt.items() if names}


def default_turns(mode: RoomMode, speakers: int) -> int:
    """Turns per run when ``max_turns`` is not set: enough for every phase, or three in a free mode."""
    if not is_phased(mode):
        return DEFAULT_FREE_TURNS
    if mode in REPEATING:
        return max(1, min(MAX_TURNS, DEFAULT_ROUNDS * speakers))
    own = len({p.name for p in PHASES[mode] if p.takers == "own"})
    per_phase = {"all": speakers, "others": max(0, speakers - 1), "ballot": 0, "own": 0}
    owned = max(own, speakers - 1) if own else 0  # every own phase once, more when wearers outnumber them
    return max(1, min(MAX_TURNS, owned + sum(per_phase.get(p.takers, 1) for p in PHASES[mode])))


def default_time_limit(turns: int) -> float:
    """Seconds a run may take when ``time_limit_seconds`` is not set: a minute, or 20 s a turn if more."""
    return min(MAX_TIME_LIMIT, max(MIN_TIME_LIMIT, TIME_PER_TURN * turns))
