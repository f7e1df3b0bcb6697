"""The turn planner of each mode, with plain calls: no database, no sockets, no replicas."""

from __future__ import annotations

from server.rooms.turns import AskModerator, Decision, Finished, Seat, Speak, TurnPlanner, mentioned

ADA = Seat("ada", "Ada Lovelace")
SOCRATES = Seat("socrates", "Socrates")
GUIDE = Seat("guide", "Sensay Guide")
SEATS = [ADA, SOCRATES, GUIDE]


def run(planner: TurnPlanner, trigger: str, replies: dict[str, str] | None = None) -> list[str]:
    """Follow the planner's decisions to the end; each replica answers with ``replies[id]`` (or nothing)."""
    spoken: list[str] = []
    last = trigger
    while True:
        decision: Decision = planner.next(last)
        match decision:
            case Finished():
                return spoken
            case Speak(seat):
                pass
            case AskModerator():
                raise AssertionError("this mode has no moderator")
        planner.record(seat)
        spoken.append(seat.replica_id)
        last = (replies or {}).get(seat.replica_id, "")


def test_mentioned_finds_full_and_first_names_in_order() -> None:
    """Names are matched whole, case-insensitively, in the order they appear in the text."""
    assert mentioned("socrates, then ada lovelace, answer", SEATS) == [SOCRATES, ADA]
    assert mentioned("Sensay is here; adamant Guide", SEATS) == [GUIDE]
    assert mentioned("nobody at all", SEATS) == []


def test_natural_the_first_named_replica_answers_then_whoever_each_reply_names() -> None:
    """In natural mode the first replica named answers; each reply passes the floor to a replica it names.

    (A second replica named only in the user's message answers when a reply names it too.)
    """
    assert run(TurnPlanner("natural", SEATS, max_turns=5), "Socrates and Ada, what is a number?") == ["socrates"]
    planner = TurnPlanner("natural", SEATS, max_turns=5)
    assert run(planner, "Socrates and Ada?", {"socrates": "Ada, your view?", "ada": "Socrates is right."}) == [
        "socrates",
        "ada",
    ]


def test_natural_without_names_the_rotation_answers_and_a_reply_hands_the_floor() -> None:
    """Nobody named: the replica after the previous speaker answers; a reply naming another hands it the floor."""
    planner = TurnPlanner("natural", SEATS, max_turns=5, previous="ada")
    assert run(planner, "hello room", {"socrates": "What does Sensay think?"}) == ["socrates", "guide"]


def test_round_robin_everyone_once_rotating_from_run_to_run() -> None:
    """Round robin: every replica once, starting after the one that spoke last."""
    assert run(TurnPlanner("round_robin", SEATS, max_turns=10), "go") == ["ada", "socrates", "guide"]
    assert run(TurnPlanner("round_robin", SEATS, max_turns=10, previous="ada"), "go") == ["socrates", "guide", "ada"]


def test_topic_takes_turns_like_round_robin() -> None:
    """Topic mode takes the same turns as round robin (the prompt differs, not the order)."""
    assert run(TurnPlanner("topic", SEATS, max_turns=10, previous="guide"), "go") == ["ada", "socrates", "guide"]


def test_adversarial_alternates_until_the_turn_limit() -> None:
    """Adversarial replicas keep answering each other until the limit; one replica alone speaks once."""
    planner = TurnPlanner("adversarial", [ADA, SOCRATES], max_turns=5)
    assert run(planner, "argue") == ["ada", "socrates", "ada", "socrates", "ada"]
    assert planner.next("") == Finished("turn limit")
    assert run(TurnPlanner("adversarial", [ADA], max_turns=5), "argue") == ["ada"]


def test_the_turn_limit_ends_every_mode() -> None:
    """No mode takes more turns than max_turns."""
    assert run(TurnPlanner("round_robin", SEATS, max_turns=2), "go") == ["ada", "socrates"]
    planner = TurnPlanner("natural", SEATS, max_turns=1)
    assert run(planner, "Ada, Socrates and Guide") == ["ada"]
    assert planner.next("") == Finished("turn limit")


def test_moderated_asks_the_moderator_who_never_speaks_nor_repeats_a_speaker() -> None:
    """The moderator (the first replica by default) is asked each time; its pick speaks; nobody twice in a row."""
    planner = TurnPlanner("moderated", SEATS, max_turns=3)
    first = planner.next("who first?")
    assert first == AskModerator("ada", (SOCRATES, GUIDE))
    chosen = planner.resolve_pick("Let Sensay Guide speak.")
    assert chosen == GUIDE
    planner.record(chosen)
    assert planner.next("...") == AskModerator("ada", (SOCRATES,))
    assert planner.resolve_pick("Guide again!") == SOCRATES, "the last speaker cannot be picked again"


def test_moderated_with_a_named_moderator_and_an_unclear_answer_follows_the_rotation() -> None:
    """settings.moderator_id picks the moderator; an answer naming nobody gives the floor to the rotation's next."""
    planner = TurnPlanner("moderated", SEATS, max_turns=3, moderator_id="guide")
    assert planner.next("start") == AskModerator("guide", (ADA, SOCRATES))
    assert planner.resolve_pick("hmm") == ADA
    planner.record(ADA)
    assert planner.resolve_pick("no idea") == SOCRATES


def test_a_room_with_nobody_to_speak_is_done_at_once() -> None:
    """A moderated room whose only replica moderates has nobody to give the floor to."""
    assert TurnPlanner("moderated", [ADA], max_turns=3).next("hello") == Finished("done")
