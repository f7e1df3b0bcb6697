"""The turn planner of each mode, with plain calls: no database, no sockets, no replicas."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from server.rooms import modes
from server.rooms.asking import Seat, choose, count_votes, mentioned, read_verdict
from server.rooms.turns import (
    AskModerator,
    EnterPhase,
    Finished,
    Judge,
    PlannerError,
    Speak,
    TurnPlanner,
    Vote,
)
from server.store.records import RoomMode

ADA = Seat("ada", "Ada Lovelace", "Mathematician and the first programmer; computing and the Analytical Engine")
SOCRATES = Seat("socrates", "Socrates", "Athenian philosopher who examines ideas through questions")
GUIDE = Seat("guide", "Sensay Guide", "A friendly guide to Sensay replicas and technology")
SEATS = [ADA, SOCRATES, GUIDE]

Answer = Callable[[str], str]


def drive(
    planner: TurnPlanner,
    *,
    says: dict[str, str] | None = None,
    moderator: Answer = lambda question: "",
    voter: Callable[[Seat, str], str] = lambda seat, question: "",
    judge: Answer = lambda question: "DISAGREE",
) -> tuple[list[str], str]:
    """Follow the planner's decisions to the end; return what happened, in order, and why the run ended.

    Each replica says ``says[id]`` (or nothing); phases show as ``phase:<name>``, votes as ``vote:<winner>``,
    verdicts as ``<test>:met`` / ``<test>:no``.
    """
    log: list[str] = []
    while True:
        decision = planner.next()
        match decision:
            case Finished(reason):
                return log, reason
            case EnterPhase(phase):
                log.append(f"phase:{phase.name}")
            case Vote(questions):
                result = planner.counted([(seat, voter(seat, question)) for seat, question in questions])
                log.append(f"vote:{result.winner}")
            case Judge(_, test, question):
                verdict = planner.judged(judge(question))
                log.append(f"{test}:{'met' if verdict.met else 'no'}")
            case AskModerator(_, _, question):
                speak = planner.picked(moderator(question))
                planner.record(speak.seat, (says or {}).get(speak.seat.replica_id, ""))
                log.append(speak.seat.replica_id)
            case Speak(seat):
                planner.record(seat, (says or {}).get(seat.replica_id, ""))
                log.append(seat.replica_id)


def test_mentioned_finds_full_and_first_names_in_order() -> None:
    """Names are matched whole, case-insensitively, in the order they appear in the text."""
    assert mentioned("socrates, then ada lovelace, answer", SEATS) == [SOCRATES, ADA]
    assert mentioned("Sensay is here; adamant Guide", SEATS) == [GUIDE]
    assert mentioned("nobody at all", SEATS) == []


def test_natural_the_first_named_replica_answers_then_whoever_each_reply_names() -> None:
    """In natural mode the first replica named answers; each reply passes the floor to a replica it names."""
    assert drive(TurnPlanner("natural", SEATS, "Socrates and Ada, what is a number?", max_turns=5)) == (
        ["socrates"],
        "done",
    )
    planner = TurnPlanner("natural", SEATS, "Socrates and Ada?", max_turns=5)
    says = {"socrates": "Ada, your view?", "ada": "Socrates is right."}
    assert drive(planner, says=says) == (["socrates", "ada"], "done")


def test_natural_without_names_the_rotation_answers_and_a_reply_hands_the_floor() -> None:
    """Nobody named: the replica after the previous speaker answers; a reply naming another hands it the floor."""
    planner = TurnPlanner("natural", SEATS, "hello room", max_turns=5, previous="ada")
    assert drive(planner, says={"socrates": "What does Sensay think?"}) == (["socrates", "guide"], "done")


def test_round_robin_everyone_once_rotating_from_run_to_run() -> None:
    """Round robin: every replica once, starting after the one that spoke last."""
    assert drive(TurnPlanner("round_robin", SEATS, "go", max_turns=10))[0] == ["ada", "socrates", "guide"]
    assert drive(TurnPlanner("round_robin", SEATS, "go", max_turns=10, previous="ada"))[0] == [
        "socrates",
        "guide",
        "ada",
    ]


def test_topic_takes_turns_like_round_robin_and_tells_the_topic() -> None:
    """Topic mode takes the same turns as round robin, each told to stay on the room's topic."""
    planner = TurnPlanner("topic", SEATS, "go", max_turns=10, previous="guide", topic="space travel")
    first = planner.next()
    assert isinstance(first, Speak) and first.seat == ADA and '"space travel"' in first.instruction
    planner.record(ADA, "")
    assert drive(planner) == (["socrates", "guide"], "done")


def test_adversarial_alternates_until_the_turn_limit() -> None:
    """Adversarial replicas keep answering each other until the limit; one replica alone speaks once."""
    planner = TurnPlanner("adversarial", [ADA, SOCRATES], "argue", max_turns=5)
    assert drive(planner) == (["ada", "socrates", "ada", "socrates", "ada"], "turn limit")
    assert planner.next() == Finished("turn limit"), "a finished run stays finished"
    assert drive(TurnPlanner("adversarial", [ADA], "argue", max_turns=5)) == (["ada"], "done")


def test_the_turn_limit_ends_every_mode() -> None:
    """No mode takes more turns than max_turns; a run that has said all it had to say is done, not cut."""
    assert drive(TurnPlanner("round_robin", SEATS, "go", max_turns=2)) == (["ada", "socrates"], "turn limit")
    assert drive(TurnPlanner("round_robin", SEATS, "go", max_turns=3)) == (["ada", "socrates", "guide"], "done")
    assert drive(TurnPlanner("natural", SEATS, "Ada, Socrates and Guide", max_turns=1)) == (["ada"], "done")
    assert drive(TurnPlanner("six_thinking_hats", SEATS, "go", max_turns=4)) == (
        ["phase:blue", "ada", "phase:white", "socrates", "phase:red", "guide", "phase:yellow", "socrates"],
        "turn limit",
    )


def test_moderated_asks_the_moderator_who_never_speaks_nor_repeats_a_speaker() -> None:
    """The moderator (the first replica by default) is asked each time; its pick speaks; nobody twice in a row."""
    planner = TurnPlanner("moderated", SEATS, "who first?", max_turns=3)
    first = planner.next()
    assert isinstance(first, AskModerator) and first.moderator_id == "ada" and first.candidates == (SOCRATES, GUIDE)
    assert first.question.endswith("Answer with exactly one of: Socrates | Sensay Guide")
    chosen = planner.picked("Let Sensay Guide speak.")
    assert chosen.seat == GUIDE
    planner.record(GUIDE, "...")
    second = planner.next()
    assert isinstance(second, AskModerator) and second.candidates == (SOCRATES,)
    assert planner.picked("Guide again!").seat == SOCRATES, "the last speaker cannot be picked again"


def test_moderated_with_a_named_moderator_and_an_unclear_answer_follows_the_rotation() -> None:
    """settings.moderator_id picks the moderator; an answer naming nobody gives the floor to the rotation's next."""
    planner = TurnPlanner("moderated", SEATS, "start", max_turns=2, moderator_id="guide")
    assert drive(planner, moderator=lambda q: "hmm") == (["ada", "socrates"], "turn limit")


def test_a_room_with_nobody_to_speak_is_done_at_once() -> None:
    """A moderated room whose only replica moderates has nobody to give the floor to."""
    assert TurnPlanner("moderated", [ADA], "hello", max_turns=3).next() == Finished("done")


def test_problem_solving_proposes_then_converges_until_the_judge_finds_consensus() -> None:
    """Problem solving: everyone proposes, then refines; the judge is asked after each round and ends it on AGREE."""
    answers = iter(["DISAGREE: Ada wants tea, Socrates coffee.", "AGREE. Tea it is."])
    planner = TurnPlanner("problem_solving", [ADA, SOCRATES], "tea or coffee?")
    log, reason = drive(planner, judge=lambda q: next(answers))
    assert log == [
        "phase:propose",
        "ada",
        "socrates",
        "consensus:no",
        "phase:converge",
        "ada",
        "socrates",
        "consensus:met",
    ]
    assert reason == "consensus" and planner.verdicts[-1].summary == "Tea it is."
    assert planner.verdicts[-1].judge_id == "ada", "the first replica judges by default"


def test_problem_solving_without_agreement_runs_its_default_three_rounds() -> None:
    """Without agreement a problem-solving run ends at its default budget: three rounds of every speaker."""
    log, reason = drive(TurnPlanner("problem_solving", [ADA, SOCRATES], "tea or coffee?"))
    assert reason == "turn limit"
    assert [e for e in log if not e.startswith("phase")] == ["ada", "socrates", "consensus:no"] * 3
    assert [e for e in log if e.startswith("phase")] == ["phase:propose", "phase:converge", "phase:converge"]


def test_knowledge_sharing_the_expert_answers_the_others_add_the_expert_sums_up() -> None:
    """The replica whose profile fits the question best answers first and sums up; the others add in between."""
    planner = TurnPlanner("knowledge_sharing", SEATS, "How did computing begin with the Analytical Engine?")
    assert drive(planner) == (
        ["phase:answer", "ada", "phase:add", "socrates", "guide", "phase:synthesis", "ada"],
        "done",
    )
    named = TurnPlanner("knowledge_sharing", SEATS, "Sensay Guide, what is the Analytical Engine?", previous="ada")
    assert drive(named)[0][1] == "guide", "a replica named in the question is the expert"


def test_creative_everyone_offers_an_idea_then_develops_the_previous_one() -> None:
    """Creative collaboration: an idea round, then a refinement round, every speaker once in each."""
    log, reason = drive(TurnPlanner("creative", [ADA, SOCRATES], "a name for our robot"))
    assert (log, reason) == (["phase:ideas", "ada", "socrates", "phase:refine", "ada", "socrates"], "done")


def test_democratic_proposals_then_a_vote_then_the_winner_states_the_decision() -> None:
    """Every speaker proposes, every speaker votes for another's proposal, the winner states the decision."""
    planner = TurnPlanner("democratic", SEATS, "where do we meet?")
    questions: dict[str, str] = {}

    def voter(seat: Seat, question: str) -> str:
        questions[seat.replica_id] = question
        return "Socrates, because he asked the best question." if seat != SOCRATES else "Ada Lovelace."

    log, reason = drive(planner, voter=voter)
    assert log == [
        "phase:propose",
        "ada",
        "socrates",
        "guide",
        "phase:vote",
        "vote:socrates",
        "phase:decision",
        "socrates",
    ]
    assert reason == "decided by vote"
    assert questions["ada"].endswith("Answer with exactly one of: Socrates | Sensay Guide")
    assert questions["socrates"].endswith("Answer with exactly one of: Ada Lovelace | Sensay Guide")
    assert planner.vote is not None and planner.vote.tally == {"ada": 1, "socrates": 2, "guide": 0}
    assert not planner.vote.tie and not planner.vote.unanimous


def test_votes_count_once_per_voter_never_for_itself_and_ties_go_to_the_earliest_proposal() -> None:
    """A ballot for oneself or for nobody counts for no one; a tie goes to the proposal made first."""
    result = count_votes([(ADA, "Ada Lovelace, of course"), (SOCRATES, "Ada!"), (GUIDE, "Socrates")], SEATS)
    assert [b.choice for b in result.ballots] == [None, "ada", "socrates"]
    assert result.tally == {"ada": 1, "socrates": 1, "guide": 0} and result.tie and result.winner == "ada"
    two = count_votes([(ADA, "Socrates"), (SOCRATES, "Ada")], [ADA, SOCRATES])
    assert two.tie and two.winner == "ada" and not two.unanimous
    all_for_guide = count_votes([(ADA, "Sensay"), (SOCRATES, "Sensay Guide")], SEATS)
    assert all_for_guide.unanimous and all_for_guide.winner == "guide"


def test_six_thinking_hats_runs_the_hats_in_order_each_worn_by_its_own_replicas() -> None:
    """Six hats: the lead opens and closes in blue; the five other hats are dealt to the other replicas, and each
    hat's phase is spoken by its wearer only, told which hats are its own."""
    planner = TurnPlanner("six_thinking_hats", SEATS, "should we move to Mars?", moderator_id="socrates")
    assert planner.roles == {
        "socrates": ["blue"],
        "ada": ["white", "yellow", "green"],
        "guide": ["red", "black"],
    }
    told: list[str] = []
    log: list[str] = []
    while not isinstance(decision := planner.next(), Finished):
        if isinstance(decision, EnterPhase):
            log.append(f"phase:{decision.phase.name}")
        elif isinstance(decision, Speak):
            told.append(decision.instruction)
            log.append(decision.seat.replica_id)
            planner.record(decision.seat, "")
    assert decision.reason == "done" and planner.budget == 7
    assert log == [
        "phase:blue",
        "socrates",
        "phase:white",
        "ada",
        "phase:red",
        "guide",
        "phase:yellow",
        "ada",
        "phase:black",
        "guide",
        "phase:green",
        "ada",
        "phase:blue",
        "socrates",
    ]
    assert told[1].startswith("White hat: only facts") and told[1].endswith(
        "Your role in this session: White hat: facts; Yellow hat: benefits; Green hat: ideas."
    )
    assert told[0].endswith("Your role in this session: Blue hat: focus; Blue hat: conclusions.")


def test_swot_deals_the_quadrants_then_the_lead_draws_the_strategy() -> None:
    """SWOT: each quadrant from the replicas it was dealt to, then a strategy from the lead (the first replica)."""
    planner = TurnPlanner("swot", [ADA, SOCRATES], "our bakery")
    assert planner.roles == {"ada": ["strategy"], "socrates": ["strengths", "weaknesses", "opportunities", "threats"]}
    first = planner.next()
    assert isinstance(first, EnterPhase) and (first.index, first.count) == (1, 5)
    speak = planner.next()
    assert isinstance(speak, Speak) and speak.phase == "Strengths" and speak.instruction.startswith("Strengths")
    planner.record(speak.seat, "")
    log, reason = drive(planner)
    assert reason == "done" and planner.budget == 5
    assert log == [
        "phase:weaknesses",
        "socrates",
        "phase:opportunities",
        "socrates",
        "phase:threats",
        "socrates",
        "phase:strategy",
        "ada",
    ]


@pytest.mark.parametrize(
    ("mode", "replicas", "lead", "expected"),
    [
        ("swot", ["a"], None, {"a": ["strategy", "strengths", "weaknesses", "opportunities", "threats"]}),
        (
            "swot",
            ["a", "b", "c", "d", "e", "f"],
            "c",
            {
                "c": ["strategy"],
                "a": ["strengths"],
                "b": ["weaknesses"],
                "d": ["opportunities"],
                "e": ["threats"],
                "f": ["strengths"],
            },
        ),
        (
            "six_thinking_hats",
            ["a", "b", "c", "d", "e", "f"],
            None,
            {"a": ["blue"], "b": ["white"], "c": ["red"], "d": ["yellow"], "e": ["black"], "f": ["green"]},
        ),
        ("round_robin", ["a", "b"], None, {}),
        ("democratic", ["a", "b"], None, {}),
    ],
    ids=["swot-alone", "swot-six", "hats-six", "free-mode", "other-phased-mode"],
)
def test_roles_give_every_replica_one_and_every_role_a_replica(
    mode: RoomMode, replicas: list[str], lead: str | None, expected: dict[str, list[str]]
) -> None:
    """Dealt in order; more replicas than quadrants share one; only the structured modes have roles."""
    assert modes.roles(mode, replicas, lead) == expected
    if expected:
        assert modes.default_turns(mode, len(replicas)) == sum(len(r) for r in expected.values()) + (
            mode == "six_thinking_hats"  # the lead's blue hat is worn twice
        )


def test_a_goal_is_judged_before_the_run_ends_and_ends_it_when_met() -> None:
    """With a goal, the judge is asked after each round and before any other ending; REACHED ends the run."""
    planner = TurnPlanner("natural", SEATS, "Ada, name our robot", goal="a name for the robot")
    assert drive(planner, judge=lambda q: "NOT YET") == (["ada", "goal:no"], "done")
    planner = TurnPlanner("round_robin", SEATS, "name it", max_turns=9, goal="a name", judge_id="guide")
    seen: list[str] = []
    log, reason = drive(planner, judge=lambda q: seen.append(q) or "REACHED: Babbage.")
    assert (log, reason) == (["ada", "socrates", "guide", "goal:met"], "goal reached")
    assert planner.verdicts[0].judge_id == "guide" and planner.verdicts[0].summary == "Babbage."
    assert 'The room\'s goal: "a name"' in seen[0] and seen[0].endswith("Answer with exactly one of: NOT YET | REACHED")


def test_consensus_needs_two_speakers_and_is_judged_before_a_turn_limit() -> None:
    """One speaker cannot agree with itself; a run cut by its budget is judged before it ends."""
    alone = TurnPlanner("natural", SEATS, "Ada?", consensus=True)
    assert drive(alone, judge=lambda q: "AGREE") == (["ada"], "done")
    cut = TurnPlanner("adversarial", [ADA, SOCRATES], "argue", max_turns=3, consensus=True)
    assert drive(cut) == (["ada", "socrates", "consensus:no", "ada", "consensus:no"], "turn limit")
    both = TurnPlanner("round_robin", [ADA, SOCRATES], "x", goal="g", consensus=True)
    assert drive(both, judge=lambda q: "AGREE" if "shared position" in q else "NOT YET")[1] == "consensus"


def test_the_planner_refuses_to_be_driven_out_of_order() -> None:
    """A decision must be settled before the next one, and only by its own method."""
    planner = TurnPlanner("round_robin", SEATS, "go")
    speak = planner.next()
    assert isinstance(speak, Speak)
    with pytest.raises(PlannerError):
        planner.next()
    with pytest.raises(PlannerError):
        planner.record(GUIDE, "not my turn")
    with pytest.raises(PlannerError):
        planner.judged("AGREE")
    planner.record(speak.seat, "ok")
    with pytest.raises(PlannerError):
        planner.picked("Ada")


def test_answers_are_read_by_the_option_they_name_first() -> None:
    """An answer counts as the option it names first, whole words only; a verdict keeps the words after it."""
    assert choose("Disagree: not yet", [("DISAGREE",), ("AGREE",)]) == 0
    assert choose("I agree, no disagreement", [("DISAGREE",), ("AGREE",)]) == 1
    assert choose("maybe", [("DISAGREE",), ("AGREE",)]) is None
    verdict = read_verdict("goal", "guide", "  Reached - the robot is called Babbage.", 4)
    assert verdict.met and verdict.summary == "the robot is called Babbage." and verdict.at_turn == 4
    assert not read_verdict("goal", "guide", "Not yet reached.", 4).met


@pytest.mark.parametrize("mode", sorted(set(modes.FREE_INSTRUCTIONS) | set(modes.PHASES)))
def test_every_mode_ends_within_its_budget(mode: RoomMode) -> None:
    """Whatever the mode, a run ends, and never takes more turns than its budget."""
    planner = TurnPlanner(mode, SEATS, "go", topic="t", goal="g", consensus=True)
    log, reason = drive(planner)
    assert len(planner.turns) <= planner.budget and reason in {"done", "turn limit", "decided by vote"}
