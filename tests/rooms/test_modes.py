"""The showcase's chatroom modes and endings end to end: REST, real sockets, the local replica answering."""

from __future__ import annotations

from typing import get_args

import httpx
import pytest

from server.sensay.local import ADA_LOVELACE_UUID, SENSAY_GUIDE_UUID, SOCRATES_UUID, LocalReplica
from server.store.records import RoomMode

from ..conftest import bearer
from ..utils import connect
from .test_rooms import join_all, make_room, say, speakers, until_turns_end

ADA, SOCRATES, GUIDE = ADA_LOVELACE_UUID, SOCRATES_UUID, SENSAY_GUIDE_UUID


def of_type(frames: list[dict], kind: str) -> list[dict]:
    return [f for f in frames if f["type"] == kind]


def sequence(frames: list[dict]) -> list[str]:
    """Phases, speakers, votes and verdicts in the order they were shown."""
    shown: list[str] = []
    for f in frames:
        if f["type"] == "room.phase":
            shown.append(f"phase:{f['phase']}")
        elif f["type"] == "message" and f["message"]["sender"] == "replica":
            shown.append(f["message"]["replica_id"])
        elif f["type"] == "room.vote":
            shown.append("vote")
        elif f["type"] == "room.verdict":
            shown.append(f"{f['test']}:{'met' if f.get('met') else 'no'}")
    return shown


async def run_room(server: str, user: dict, room: dict, text: str) -> tuple[dict, list[dict]]:
    """Join the room with one socket, say ``text``, and collect the run's frames up to its end."""
    async with connect(server, user["access_token"]) as tab:
        await join_all(room, tab)
        ack = await say(tab, room, text, "m1")
        end, frames = await until_turns_end(tab, timeout=30)
    assert all(f.get("run_id", ack["message_id"]) == ack["message_id"] for f in frames + [end])
    return end, frames


async def conclusions(http: httpx.AsyncClient, user: dict) -> list[dict]:
    state = (await http.get("/api/prototype/chatroom", headers=bearer(user))).json()
    return [i["details"] for i in state["interactions"] if i["interaction_type"] == "conclusion"]


async def test_six_thinking_hats_runs_every_hat_in_order_each_worn_by_its_own_replica(
    http: httpx.AsyncClient, alice: dict, server: str, replica: LocalReplica
) -> None:
    """The lead opens and closes in blue; the other replica wears white, red, yellow, black and green; each phase
    shows, `room.turns` says who wears what, and the prompt tells the replica its hats."""
    room = await make_room(
        http, alice, [], replica_ids=[ADA, SOCRATES], mode="six_thinking_hats", settings={"moderator_id": SOCRATES}
    )
    end, frames = await run_room(server, alice, room, "Should our town ban cars from its centre?")
    assert end["state"] == "idle" and end["reason"] == "done" and end["turns"] == 7
    [running] = [f for f in of_type(frames, "room.turns") if f["state"] == "running"]
    assert running["roles"] == {SOCRATES: ["blue"], ADA: ["white", "red", "yellow", "black", "green"]}
    hats = [(f["phase"], f["index"], f["count"]) for f in of_type(frames, "room.phase")]
    assert hats == [
        ("blue", 1, 7),
        ("white", 2, 7),
        ("red", 3, 7),
        ("yellow", 4, 7),
        ("black", 5, 7),
        ("green", 6, 7),
        ("blue", 7, 7),
    ]
    shown = sequence(frames)
    assert shown == [
        "phase:blue",
        SOCRATES,
        *[step for hat in ("white", "red", "yellow", "black", "green") for step in (f"phase:{hat}", ADA)],
        "phase:blue",
        SOCRATES,
    ]
    replies = [f["message"]["content"] for f in of_type(frames, "message") if f["message"]["sender"] == "replica"]
    sensay_user = (await http.get(f"/api/rooms/{room['id']}", headers=bearer(alice))).json()["sensay_user_id"]
    red = replica.said_to(sensay_user, ADA)[1]
    assert "Red hat: feelings" in red and "Red hat: your feelings" in red, "the hat is in the prompt"
    assert "Your role in this session: White hat: facts; Red hat: feelings;" in red, "and the replica's own hats"
    assert replies[2].startswith("Red hat: feelings — Ada Lovelace here."), "the answer wears it"
    assert "your feelings" not in replies[2], "and does not quote the instruction"


async def test_swot_deals_the_quadrants_then_the_lead_draws_the_strategy(
    http: httpx.AsyncClient, alice: dict, server: str
) -> None:
    """SWOT: each quadrant from the replica it was dealt to (the lead aside), then the lead's strategy."""
    room = await make_room(http, alice, [], replica_ids=[ADA, SOCRATES, GUIDE], mode="swot")
    end, frames = await run_room(server, alice, room, "Our bakery wants to open a second shop.")
    assert end["reason"] == "done" and end["turns"] == 5
    [running] = [f for f in of_type(frames, "room.turns") if f["state"] == "running"]
    assert running["roles"] == {
        ADA: ["strategy"],
        SOCRATES: ["strengths", "opportunities"],
        GUIDE: ["weaknesses", "threats"],
    }
    assert sequence(frames) == [
        "phase:strengths",
        SOCRATES,
        "phase:weaknesses",
        GUIDE,
        "phase:opportunities",
        SOCRATES,
        "phase:threats",
        GUIDE,
        "phase:strategy",
        ADA,
    ]


async def test_democratic_replicas_vote_the_vote_is_shown_and_the_winner_states_the_decision(
    http: httpx.AsyncClient, alice: dict, bob: dict, server: str
) -> None:
    """Every replica proposes, then votes for another's proposal; the count is shown; the winner decides.

    The conclusion reaches every member's sockets (even outside the room) and stays in their records.
    """
    room = await make_room(http, alice, [bob], mode="democratic")
    async with connect(server, bob["access_token"]) as bob_elsewhere:
        end, frames = await run_room(server, alice, room, "Where should the team offsite be: Lisbon or Oslo?")
        change, _ = await bob_elsewhere.recv_until("change", timeout=10)
    assert end["reason"] == "decided by vote" and end["turns"] == 4
    shown = sequence(frames)
    assert shown[:6] == ["phase:propose", ADA, SOCRATES, GUIDE, "phase:vote", "vote"]
    [vote] = of_type(frames, "room.vote")
    assert [b["voter"] for b in vote["ballots"]] == [ADA, SOCRATES, GUIDE]
    assert all(b.get("choice") != b["voter"] for b in vote["ballots"]), "nobody votes for itself"
    valid = [b["choice"] for b in vote["ballots"] if b.get("choice")]
    assert sum(vote["tally"].values()) == len(valid) and set(vote["tally"]) == {ADA, SOCRATES, GUIDE}
    assert vote["tally"][vote["winner"]] == max(vote["tally"].values())
    assert shown[6:] == ["phase:decision", vote["winner"]], "the winner states the decision"

    record = change["record"]
    assert change["table"] == "prototype_interactions" and record["interaction_type"] == "conclusion"
    assert record["details"]["ending"] == "decided by vote" and record["details"]["vote"]["winner"] == vote["winner"]
    assert record["details"]["summary_by"] == vote["winner"] and record["details"]["summary"], "the winner sums up"
    for member in (alice, bob):
        [kept] = await conclusions(http, member)
        assert kept["room_id"] == room["id"] and kept["run_id"] == end["run_id"]


async def test_problem_solving_ends_when_the_judge_finds_consensus(
    http: httpx.AsyncClient, alice: dict, bob: dict, server: str, replica: LocalReplica
) -> None:
    """After each round the judge is asked; when it finds the speakers agree, the room says so and the run ends.

    The judge is then asked to sum the run up, and every member's conclusion record keeps its summary."""
    room = await make_room(http, alice, [bob], replica_ids=[ADA, SOCRATES], mode="problem_solving")
    end, frames = await run_room(server, alice, room, "We all agree: tea for the break. Do you agree?")
    assert sequence(frames) == ["phase:propose", ADA, SOCRATES, "consensus:met"]
    assert end["reason"] == "consensus" and end["turns"] == 2
    [verdict] = of_type(frames, "room.verdict")
    assert verdict["judge_id"] == ADA and verdict["summary"]
    [kept] = await conclusions(http, bob)
    assert kept["ending"] == "consensus" and kept["verdict"]["met"] is True
    sensay_user = (await http.get(f"/api/rooms/{room['id']}", headers=bearer(alice))).json()["sensay_user_id"]
    asked = replica.said_to(sensay_user, ADA)[-1]
    assert "sum up in two or three sentences" in asked, "the judge was asked for the summary"
    assert kept["summary_by"] == ADA and kept["summary"] and kept["summary"] != verdict["summary"]
    assert [c["summary"] for c in await conclusions(http, alice)] == [kept["summary"]]


async def test_problem_solving_without_agreement_runs_its_rounds_and_says_so(
    http: httpx.AsyncClient, alice: dict, server: str
) -> None:
    """Judged not agreeing after every round, the run ends at its turn limit and concludes nothing."""
    room = await make_room(http, alice, [], replica_ids=[ADA, SOCRATES], mode="problem_solving")
    end, frames = await run_room(server, alice, room, "Tea or coffee for the break?")
    assert end["reason"] == "turn limit" and end["turns"] == 6
    assert [v.get("met", False) for v in of_type(frames, "room.verdict")] == [False, False, False]
    assert await conclusions(http, alice) == []


async def test_a_goal_stated_at_creation_ends_the_run_when_the_judge_finds_it_met(
    http: httpx.AsyncClient, alice: dict, server: str
) -> None:
    """The room's goal is told to every speaker; the judge (judge_id) ends the run once it is reached."""
    room = await make_room(
        http,
        alice,
        [],
        mode="round_robin",
        settings={"goal": "a name for the robot", "judge_id": GUIDE, "max_turns": 6},
    )
    end, frames = await run_room(server, alice, room, "Call it Babbage: then the goal is reached.")
    assert sequence(frames) == [ADA, SOCRATES, GUIDE, "goal:met"]
    assert end["reason"] == "goal reached"
    [verdict] = of_type(frames, "room.verdict")
    assert verdict["judge_id"] == GUIDE and verdict["test"] == "goal"
    stored = (await http.get(f"/api/rooms/{room['id']}/messages", headers=bearer(alice))).json()["messages"]
    assert all("Our goal stays in view: a name for the robot." in m["content"] for m in stored[:-1])
    assert not any('goal "' in m["content"] or "[Room" in m["content"] for m in stored[:-1]), "no framing quoted"
    assert [c["ending"] for c in await conclusions(http, alice)] == ["goal reached"]


async def test_knowledge_sharing_the_expert_answers_first_and_sums_up(
    http: httpx.AsyncClient, alice: dict, server: str
) -> None:
    """The replica whose profile fits the question answers, the others add, the expert sums up."""
    room = await make_room(http, alice, [], mode="knowledge_sharing")
    end, frames = await run_room(server, alice, room, "How did mathematics lead to computing?")
    assert end["reason"] == "done"
    assert sequence(frames) == ["phase:answer", ADA, "phase:add", SOCRATES, GUIDE, "phase:synthesis", ADA]


async def test_creative_collaboration_ideas_then_refinement(http: httpx.AsyncClient, alice: dict, server: str) -> None:
    """Creative collaboration: an idea from each replica, then each develops the one before it."""
    room = await make_room(http, alice, [], replica_ids=[ADA, GUIDE], mode="creative")
    end, frames = await run_room(server, alice, room, "A slogan for a library on the moon")
    assert end["reason"] == "done"
    assert speakers(frames) == [ADA, GUIDE, ADA, GUIDE]
    assert [f["phase"] for f in of_type(frames, "room.phase")] == ["ideas", "refine"]


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"mode": "topic"}, "$.settings.topic"),
        ({"settings": {"judge_id": GUIDE}, "replica_ids": [ADA, SOCRATES]}, "$.settings.judge_id"),
        ({"settings": {"consensus": True}, "replica_ids": [ADA]}, "$.settings.consensus"),
        ({"mode": "moderated", "replica_ids": [ADA]}, "$.replica_ids"),
        ({"settings": {"max_turns": 41}}, "$.settings.max_turns"),
    ],
    ids=["topic-without-topic", "judge-outside-room", "consensus-alone", "moderator-alone", "too-many-turns"],
)
async def test_a_room_missing_what_its_mode_needs_is_refused(
    http: httpx.AsyncClient, alice: dict, fields: dict, where: str
) -> None:
    """A topic room needs a topic (no silent fallback to its name); roles must name the room's replicas."""
    body = {"name": "salon", "replica_ids": [ADA, SOCRATES, GUIDE], **fields}
    response = await http.post("/api/rooms", json=body, headers=bearer(alice))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_error" and where in problem["detail"]


@pytest.mark.parametrize("mode", get_args(RoomMode))
async def test_every_mode_is_accepted_and_kept(http: httpx.AsyncClient, alice: dict, mode: str) -> None:
    """All nine showcase modes (and round robin) can be created and read back."""
    room = await make_room(http, alice, [], mode=mode, settings={"topic": "tides"} if mode == "topic" else {})
    again = (await http.get(f"/api/rooms/{room['id']}", headers=bearer(alice))).json()
    assert again["room"]["mode"] == mode
