"""Chatrooms end to end over real sockets: two users (three sockets), three replicas, every mode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest

from server.sensay.local import ADA_LOVELACE_UUID, SENSAY_GUIDE_UUID, SOCRATES_UUID, LocalReplica

from ..conftest import bearer
from ..utils import WsClient, connect

ADA, SOCRATES, GUIDE = ADA_LOVELACE_UUID, SOCRATES_UUID, SENSAY_GUIDE_UUID


async def make_room(http: httpx.AsyncClient, owner: dict, members: list[dict], **fields: object) -> dict:
    body = {"name": "salon", "replica_ids": [ADA, SOCRATES, GUIDE], "member_ids": [m["user"]["id"] for m in members]}
    response = await http.post("/api/rooms", json={**body, **fields}, headers=bearer(owner))
    assert response.status_code == 201, response.text
    return response.json()


async def until_turns_end(client: WsClient, timeout: float = 20) -> tuple[dict, list[dict]]:
    """Frames up to the ``room.turns`` frame that ends a run."""
    frames: list[dict] = []
    while True:
        frame = await client.recv(timeout)
        if frame["type"] == "room.turns" and frame["state"] != "running":
            return frame, frames
        frames.append(frame)


def speakers(frames: list[dict]) -> list[str]:
    return [
        f["message"]["replica_id"] for f in frames if f["type"] == "message" and f["message"]["sender"] == "replica"
    ]


@pytest.fixture
async def sockets(server: str, alice: dict, bob: dict) -> AsyncIterator[tuple[WsClient, WsClient, WsClient]]:
    """Alice's two tabs and Bob's one."""
    async with AsyncExitStack() as stack:
        tab1 = await stack.enter_async_context(connect(server, alice["access_token"]))
        tab2 = await stack.enter_async_context(connect(server, alice["access_token"]))
        tab3 = await stack.enter_async_context(connect(server, bob["access_token"]))
        yield tab1, tab2, tab3


async def join_all(room: dict, *clients: WsClient) -> None:
    for client in clients:
        await client.send({"type": "room.join", "id": "j", "room_id": room["id"]})
        await client.recv_until("room.presence")


async def say(client: WsClient, room: dict, text: str, frame_id: str) -> dict:
    await client.send({"type": "room.send", "id": frame_id, "room_id": room["id"], "content": text})
    ack, _ = await client.recv_until("ack")
    return ack


@pytest.mark.parametrize(
    ("mode", "room_settings", "text", "expected", "reason"),
    [
        ("round_robin", {"max_turns": 5}, "hello everyone", [ADA, SOCRATES, GUIDE], "done"),
        ("natural", {}, "Socrates, what is virtue?", [SOCRATES], "done"),
        ("natural", {}, "Sensay Guide and Ada, hello", [GUIDE, ADA], "done"),
        ("natural", {}, "hello room", [ADA], "done"),
        ("topic", {"max_turns": 2, "topic": "space travel"}, "let us begin", [ADA, SOCRATES], "turn limit"),
        ("adversarial", {"max_turns": 4}, "machines can think", [ADA, SOCRATES, GUIDE, ADA], "turn limit"),
    ],
    ids=["round-robin", "natural-addressed", "natural-two-addressed", "natural-rotation", "topic", "adversarial"],
)
async def test_mode_decides_the_speakers(
    http: httpx.AsyncClient,
    alice: dict,
    bob: dict,
    sockets: tuple[WsClient, WsClient, WsClient],
    mode: str,
    room_settings: dict,
    text: str,
    expected: list[str],
    reason: str,
) -> None:
    tab1, tab2, tab3 = sockets
    room = await make_room(http, alice, [bob], mode=mode, settings=room_settings)
    await join_all(room, tab1, tab2, tab3)
    ack = await say(tab3, room, text, "m1")
    assert ack["stream"] == f"room:{room['id']}" and ack["seq"] == 1
    outcomes = [await until_turns_end(tab) for tab in (tab1, tab2, tab3)]
    for end, frames in outcomes:
        assert end["reason"] == reason and end["turns"] == len(expected)
        assert speakers(frames) == expected
        user_messages = [f for f in frames if f["type"] == "message" and f["message"]["sender"] == "user"]
        assert [m["message"]["content"] for m in user_messages] == [text]
        deltas = [f for f in frames if f["type"] == "reply.delta"]
        assert {d["replica_id"] for d in deltas} == set(expected)
    stored = (await http.get(f"/api/rooms/{room['id']}/messages", headers=bearer(bob))).json()["messages"]
    assert [m["seq"] for m in stored] == list(range(len(expected) + 1, 0, -1))
    assert [m["replica_id"] for m in reversed(stored[:-1])] == expected
    if mode == "topic":
        assert all("space travel" in m["content"] for m in stored[:-1])


async def test_moderator_gives_the_floor_and_never_speaks_itself(
    http: httpx.AsyncClient, alice: dict, bob: dict, sockets: tuple[WsClient, WsClient, WsClient]
) -> None:
    tab1, _tab2, tab3 = sockets
    room = await make_room(http, alice, [bob], mode="moderated", settings={"max_turns": 3, "moderator_id": GUIDE})
    await join_all(room, tab1, tab3)
    await say(tab1, room, "who wants to start?", "m1")
    end, frames = await until_turns_end(tab3)
    spoken = speakers(frames)
    assert end["reason"] == "turn limit" and len(spoken) == 3
    assert GUIDE not in spoken and set(spoken) <= {ADA, SOCRATES}
    assert all(a != b for a, b in zip(spoken, spoken[1:], strict=False)), "nobody gets the floor twice in a row"


async def test_stop_command_ends_the_turns(
    http: httpx.AsyncClient, alice: dict, bob: dict, replica: LocalReplica, sockets: tuple[WsClient, WsClient, WsClient]
) -> None:
    tab1, _tab2, tab3 = sockets
    replica.word_delay = 0.05
    room = await make_room(http, alice, [bob], mode="round_robin", settings={"max_turns": 10})
    await join_all(room, tab1, tab3)
    await say(tab1, room, "talk among yourselves", "m1")
    await tab3.recv_until("reply.delta")
    await tab3.send({"type": "room.stop", "id": "s", "room_id": room["id"]})
    end, _ = await until_turns_end(tab1)
    assert end["state"] == "stopped" and end["reason"] == "stopped by a member"
    late = await tab1.nothing_within(0.4)  # deltas queued before the stop may still arrive; no new turn does
    assert not [f for f in late if f["type"] in ("message", "room.turns")]
    stored = (await http.get(f"/api/rooms/{room['id']}/messages", headers=bearer(alice))).json()["messages"]
    assert [m["sender"] for m in stored] == ["user"], "the reply cut short is not stored"


async def test_time_limit_ends_the_turns(
    http: httpx.AsyncClient, alice: dict, bob: dict, replica: LocalReplica, sockets: tuple[WsClient, WsClient, WsClient]
) -> None:
    tab1, _tab2, _tab3 = sockets
    replica.word_delay = 0.1
    room = await make_room(
        http, alice, [bob], mode="round_robin", settings={"max_turns": 10, "time_limit_seconds": 0.5}
    )
    await join_all(room, tab1)
    await say(tab1, room, "go", "m1")
    end, _ = await until_turns_end(tab1)
    assert end["state"] == "stopped" and end["reason"] == "time limit"


async def test_presence_and_typing(
    http: httpx.AsyncClient, alice: dict, bob: dict, server: str, sockets: tuple[WsClient, WsClient, WsClient]
) -> None:
    tab1, tab2, tab3 = sockets
    room = await make_room(http, alice, [bob])
    await tab1.send({"type": "room.join", "room_id": room["id"]})
    first = await tab1.recv()
    assert first == {"type": "room.joined", "room_id": room["id"], "user_id": alice["user"]["id"]}
    assert (await tab1.recv())["user_ids"] == [alice["user"]["id"]]

    await tab3.send({"type": "room.join", "room_id": room["id"]})
    assert (await tab1.recv())["user_id"] == bob["user"]["id"]
    snapshot, _ = await tab3.recv_until("room.presence")
    assert set(snapshot["user_ids"]) == {alice["user"]["id"], bob["user"]["id"]}

    await tab2.send({"type": "room.join", "room_id": room["id"]})
    await tab2.recv_until("room.presence")
    assert await tab1.nothing_within(0.2) == [], "a second tab of a present user is no news"

    await tab3.send({"type": "room.typing", "room_id": room["id"], "typing": True})
    typing = await tab1.recv()
    assert typing == {"type": "room.typing", "room_id": room["id"], "user_id": bob["user"]["id"], "typing": True}
    assert (await tab2.recv())["type"] == "room.typing"

    await tab3.ws.close()
    left = await tab1.recv()
    assert left == {"type": "room.left", "room_id": room["id"], "user_id": bob["user"]["id"]}
    stored = (await http.get(f"/api/rooms/{room['id']}/messages", headers=bearer(alice))).json()["messages"]
    assert stored == [], "presence and typing are never stored"
    detail = (await http.get(f"/api/rooms/{room['id']}", headers=bearer(alice))).json()
    assert detail["present"] == [alice["user"]["id"]]


async def test_recovery_after_a_drop(http: httpx.AsyncClient, alice: dict, bob: dict, server: str) -> None:
    room = await make_room(http, alice, [bob], mode="round_robin", settings={"max_turns": 1})
    async with connect(server, bob["access_token"]) as bob_tab:
        await join_all(room, bob_tab)
        async with connect(server, alice["access_token"]) as alice_tab:
            await join_all(room, alice_tab)
            await say(alice_tab, room, "first", "m1")
            _, frames = await until_turns_end(bob_tab)
            last_seen = max(f["message"]["seq"] for f in frames if f["type"] == "message")
            await bob_tab.ws.close()
            await say(alice_tab, room, "while bob is away", "m2")
            await until_turns_end(alice_tab)
    async with connect(server, bob["access_token"]) as bob_tab:
        await bob_tab.send({"type": "resume", "streams": {f"room:{room['id']}": last_seen}})
        missed = [await bob_tab.recv() for _ in range(3)]
    assert [f["message"]["seq"] for f in missed[:2]] == [last_seen + 1, last_seen + 2]
    assert missed[0]["message"]["content"] == "while bob is away"
    assert missed[2]["type"] == "resumed" and missed[2]["replayed"] == 2
    stored = (await http.get(f"/api/rooms/{room['id']}/messages", headers=bearer(alice))).json()["messages"]
    assert [f["message"] for f in reversed(missed[:2])] == stored[:2], "replay and REST show one message shape"
    assert missed[0]["message"]["room_id"] == room["id"] and missed[0]["message"]["user_id"] == alice["user"]["id"]


async def test_outsiders_cannot_join_send_or_read(http: httpx.AsyncClient, alice: dict, bob: dict, server: str) -> None:
    room = await make_room(http, alice, [])
    async with connect(server, bob["access_token"]) as tab:
        await tab.send({"type": "room.join", "id": "j", "room_id": room["id"]})
        assert (await tab.recv())["code"] == "not_found"
        await tab.send({"type": "room.send", "id": "s", "room_id": room["id"], "content": "let me in"})
        assert (await tab.recv())["code"] == "not_found"
        await tab.send({"type": "resume", "id": "r", "streams": {f"room:{room['id']}": 0}})
        assert (await tab.recv())["code"] == "resume_unavailable"
    assert (await http.get(f"/api/rooms/{room['id']}/messages", headers=bearer(bob))).status_code == 404
    assert (await http.get(f"/api/rooms/{room['id']}", headers=bearer(bob))).status_code == 404
    assert all(r["id"] != room["id"] for r in (await http.get("/api/rooms", headers=bearer(bob))).json()["rooms"])
    added = await http.post(
        f"/api/rooms/{room['id']}/members", json={"user_id": bob["user"]["id"]}, headers=bearer(bob)
    )
    assert added.status_code == 404
    added = await http.post(
        f"/api/rooms/{room['id']}/members", json={"user_id": bob["user"]["id"]}, headers=bearer(alice)
    )
    assert added.status_code == 204
    assert (await http.get(f"/api/rooms/{room['id']}/messages", headers=bearer(bob))).status_code == 200


async def test_open_rooms_admit_anyone_and_sends_are_idempotent(
    http: httpx.AsyncClient, alice: dict, bob: dict, server: str
) -> None:
    room = await make_room(http, alice, [], is_open=True, mode="round_robin", settings={"max_turns": 1})
    async with connect(server, bob["access_token"]) as tab:
        await join_all(room, tab)
        first = await say(tab, room, "hi all", "same-id")
        await until_turns_end(tab)
        await tab.send({"type": "room.send", "id": "same-id", "room_id": room["id"], "content": "hi all"})
        again = await tab.recv()
        assert again["type"] == "ack" and again["duplicate"] is True and again["seq"] == first["seq"]
        assert await tab.nothing_within(0.3) == []
    members = (await http.get(f"/api/rooms/{room['id']}", headers=bearer(alice))).json()["members"]
    assert bob["user"]["id"] in members


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "replica_ids": []},
        {"name": "x", "replica_ids": [ADA, ADA]},
        {"name": "x", "replica_ids": [ADA], "mode": "chaotic"},
        {"name": "x", "replica_ids": [ADA, SOCRATES], "mode": "moderated", "settings": {"moderator_id": GUIDE}},
        {"name": "x", "replica_ids": [ADA], "settings": {"max_turns": 50}},
    ],
)
async def test_invalid_rooms_are_refused(http: httpx.AsyncClient, alice: dict, body: dict) -> None:
    response = await http.post("/api/rooms", json=body, headers=bearer(alice))
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
