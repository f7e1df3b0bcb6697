"""Replica chat over real sockets: ack after store, fan-out to every tab, streaming, idempotency, resume."""

from __future__ import annotations

import asyncio

import httpx

from server.sensay.local import ADA_LOVELACE_UUID, SOCRATES_UUID, LocalReplica

from ..conftest import bearer
from ..utils import WsClient, connect

ADA = f"chat:{ADA_LOVELACE_UUID}"


async def history(http: httpx.AsyncClient, login: dict, replica_id: str = ADA_LOVELACE_UUID) -> list[dict]:
    response = await http.get("/api/conversations", params={"replica_id": replica_id}, headers=bearer(login))
    assert response.status_code == 200
    return response.json()["messages"]


async def collect_reply(client: WsClient) -> tuple[dict, list[dict]]:
    """Frames up to and including the replica's stored message."""
    frames: list[dict] = []
    while True:
        frame = await client.recv()
        frames.append(frame)
        if frame["type"] == "message" and frame["message"]["sender"] == "replica":
            return frame, frames
        assert frame["type"] != "error", frame


async def test_message_reaches_every_tab_of_its_user_and_nobody_else(
    server: str, http: httpx.AsyncClient, alice: dict, bob: dict
) -> None:
    """Tab 1 is acked and streamed the reply; tab 2 sees message and reply; Bob sees nothing."""
    token = alice["access_token"]
    async with (
        connect(server, token) as tab1,
        connect(server, token) as tab2,
        connect(server, bob["access_token"]) as b,
    ):
        await tab1.send({"type": "chat.send", "id": "c-1", "replica_id": ADA_LOVELACE_UUID, "content": "hello engine"})
        ack = await tab1.recv()
        assert ack["type"] == "ack" and ack["id"] == "c-1" and ack["stream"] == ADA and ack["seq"] == 1
        assert "duplicate" not in ack

        reply, frames = await collect_reply(tab1)
        own = [f for f in frames if f["type"] == "message" and f["message"]["sender"] == "user"]
        assert own and own[0]["message"]["id"] == ack["message_id"]
        deltas = [f["text"] for f in frames if f["type"] == "reply.delta"]
        assert len(deltas) > 1, "the reply is streamed in pieces"
        assert "".join(deltas) == reply["message"]["content"]
        assert "hello engine" in reply["message"]["content"]
        assert reply["message"]["seq"] == 2 and reply["message"]["reply_to"] == ack["message_id"]

        reply2, frames2 = await collect_reply(tab2)
        assert frames2[0]["type"] == "message" and frames2[0]["message"]["content"] == "hello engine"
        assert reply2 == reply
        assert await b.nothing_within(0.3) == []

    stored = await history(http, alice)
    assert [(m["seq"], m["sender"]) for m in stored] == [(2, "replica"), (1, "user")]
    assert stored[1]["client_id"] == "c-1" and stored[0]["content"] == reply["message"]["content"]
    assert stored == [reply["message"], own[0]["message"]], "REST history and the socket show one message shape"
    assert stored[1]["replica_id"] == ADA_LOVELACE_UUID and stored[1]["stream"] == ADA
    assert await history(http, bob) == []


async def test_repeated_client_id_is_acked_again_and_stored_once(
    server: str, http: httpx.AsyncClient, alice: dict, replica: LocalReplica
) -> None:
    async with connect(server, alice["access_token"]) as tab:
        frame = {"type": "chat.send", "id": "same", "replica_id": ADA_LOVELACE_UUID, "content": "only once"}
        await tab.send(frame)
        first = await tab.recv()
        await collect_reply(tab)
        requests = replica.chat_requests
        await tab.send(frame)
        again = await tab.recv()
        assert again["type"] == "ack" and again["duplicate"] is True
        assert (again["message_id"], again["seq"]) == (first["message_id"], first["seq"])
        assert await tab.nothing_within(0.3) == []
        await tab.send({**frame, "content": "something else"})
        conflict = await tab.recv()
        assert conflict["type"] == "error" and conflict["code"] == "client_id_conflict" and conflict["id"] == "same"
    reused = {"replica_id": ADA_LOVELACE_UUID, "content": "something else", "client_id": "same"}
    over_rest = await http.post("/api/conversations", json=reused, headers=bearer(alice))
    assert over_rest.status_code == 409 and over_rest.json()["code"] == "client_id_conflict", "one cause, one code"
    assert replica.chat_requests == requests
    assert len(await history(http, alice)) == 2


async def test_resume_replays_exactly_what_was_missed(server: str, http: httpx.AsyncClient, alice: dict) -> None:
    async with connect(server, alice["access_token"]) as tab:
        for n in range(2):
            await tab.send({"type": "chat.send", "id": f"m{n}", "replica_id": ADA_LOVELACE_UUID, "content": f"q{n}"})
            await collect_reply(tab)
    async with connect(server, alice["access_token"]) as tab:
        await tab.send({"type": "resume", "id": "r", "streams": {ADA: 1, f"chat:{SOCRATES_UUID}": 0}})
        frames = [await tab.recv() for _ in range(5)]
    replayed = [f for f in frames if f["type"] == "message"]
    assert [f["message"]["seq"] for f in replayed] == [2, 3, 4]
    assert [f["message"]["sender"] for f in replayed] == ["replica", "user", "replica"]
    done = {f["stream"]: f for f in frames if f["type"] == "resumed"}
    assert done[ADA]["replayed"] == 3 and done[ADA]["latest_seq"] == 4
    assert done[f"chat:{SOCRATES_UUID}"]["replayed"] == 0


async def test_resume_from_the_future_cannot_recover(server: str, alice: dict) -> None:
    async with connect(server, alice["access_token"]) as tab:
        await tab.send({"type": "resume", "id": "r", "streams": {ADA: 7}})
        error = await tab.recv()
    assert error["type"] == "error" and error["code"] == "resume_unavailable"
    assert error["stream"] == ADA and error["id"] == "r"


async def test_reply_is_finished_and_stored_when_every_socket_drops(
    server: str, http: httpx.AsyncClient, alice: dict, replica: LocalReplica
) -> None:
    replica.word_delay = 0.05
    async with connect(server, alice["access_token"]) as tab:
        await tab.send({"type": "chat.send", "id": "x", "replica_id": ADA_LOVELACE_UUID, "content": "a long question"})
        assert (await tab.recv())["type"] == "ack"
        await tab.recv_until("reply.delta")
    # Every socket of the user is gone while the replica is still talking.
    for _ in range(100):
        if len(await history(http, alice)) == 2:
            break
        await asyncio.sleep(0.05)
    stored = await history(http, alice)
    assert [m["sender"] for m in stored] == ["replica", "user"]
    async with connect(server, alice["access_token"]) as tab:
        await tab.send({"type": "resume", "streams": {ADA: 1}})
        missed = await tab.recv()
        assert missed["type"] == "message" and missed["message"]["seq"] == 2
        assert missed["message"]["content"] == stored[0]["content"]


async def test_sensay_failure_keeps_the_message_and_a_retry_gives_one_reply(
    server: str, http: httpx.AsyncClient, alice: dict, replica: LocalReplica
) -> None:
    replica.fail_next(100, status=500)
    frame = {"type": "chat.send", "id": "retry-me", "replica_id": ADA_LOVELACE_UUID, "content": "are you there"}
    async with connect(server, alice["access_token"]) as tab:
        await tab.send(frame)
        ack = await tab.recv()
        assert ack["type"] == "ack"
        error, _ = await tab.recv_until("error", timeout=15)
        assert error["code"] == "replica_unavailable" and error["retryable"] is True
        assert error["id"] == "retry-me" and error["stream"] == ADA
        assert [m["sender"] for m in await history(http, alice)] == ["user"]

        replica.clear_faults()
        await tab.send(frame)
        again = await tab.recv()
        assert again["type"] == "ack" and again["duplicate"] is True and again["message_id"] == ack["message_id"]
        reply, _ = await collect_reply(tab)
        await tab.send(frame)
        assert (await tab.recv())["duplicate"] is True
        assert await tab.nothing_within(0.3) == []
    stored = await history(http, alice)
    assert [m["sender"] for m in stored] == ["replica", "user"]
    assert stored[0]["id"] == reply["message"]["id"]


async def test_a_resent_task_command_whose_reply_failed_is_still_confirmed(
    server: str, http: httpx.AsyncClient, alice: dict, replica: LocalReplica
) -> None:
    """A task command applied when its message was stored, whose reply failed, is confirmed by the reply to the
    resent message (same id, a duplicate): its outcome is looked up, not re-read; a plain message gets none."""
    replica.fail_next(100, status=500)
    frame = {"type": "chat.send", "id": "cmd-1", "replica_id": ADA_LOVELACE_UUID, "content": "add task buy oat milk"}
    async with connect(server, alice["access_token"]) as tab:
        await tab.send(frame)
        assert (await tab.recv())["type"] == "ack"
        error, _ = await tab.recv_until("error", timeout=15)
        assert error["code"] == "replica_unavailable" and error["id"] == "cmd-1"
        replica.clear_faults()
        await tab.send(frame)
        assert (await tab.recv())["duplicate"] is True
        reply, _ = await collect_reply(tab)
        assert 'Added task 1: "buy oat milk"' in reply["message"]["content"]
        await tab.send({"type": "chat.send", "id": "plain", "replica_id": ADA_LOVELACE_UUID, "content": "lovely day"})
        assert (await tab.recv())["type"] == "ack"
        plain, _ = await collect_reply(tab)
        assert "lovely day" in plain["message"]["content"] and "Added task" not in plain["message"]["content"]
    tasks = (await http.get("/api/tasks", headers=bearer(alice))).json()["tasks"]
    assert [t["description"] for t in tasks] == ["buy oat milk"]


async def test_sensay_timeout_is_a_retryable_error(
    server: str, http: httpx.AsyncClient, alice: dict, replica: LocalReplica
) -> None:
    replica.hang_next(100)
    try:
        async with connect(server, alice["access_token"]) as tab:
            await tab.send({"type": "chat.send", "id": "t", "replica_id": ADA_LOVELACE_UUID, "content": "hang"})
            assert (await tab.recv())["type"] == "ack"
            error, _ = await tab.recv_until("error", timeout=15)
            assert error["code"] == "replica_unavailable" and error["retryable"] is True
    finally:
        replica.clear_faults()
        replica.release_hangs()
    assert [m["sender"] for m in await history(http, alice)] == ["user"]


async def test_unknown_replica_is_refused_before_storing(server: str, http: httpx.AsyncClient, alice: dict) -> None:
    """An unknown replica is replica_not_found on the socket, over REST chat and for a room: one cause, one code."""
    async with connect(server, alice["access_token"]) as tab:
        await tab.send({"type": "chat.send", "id": "u", "replica_id": "no-such-replica", "content": "hi"})
        error = await tab.recv()
    assert error["type"] == "error" and error["code"] == "replica_not_found" and error["id"] == "u"
    body = {"replica_id": "no-such-replica", "content": "hi"}
    over_rest = await http.post("/api/conversations", json=body, headers=bearer(alice))
    assert over_rest.status_code == 404 and over_rest.json()["code"] == "replica_not_found"
    room = await http.post("/api/rooms", json={"name": "x", "replica_ids": ["no-such-replica"]}, headers=bearer(alice))
    assert room.status_code == 404 and room.json()["code"] == "replica_not_found"
    everything = await http.get("/api/conversations", headers=bearer(alice))
    assert everything.json()["messages"] == []


async def test_rest_send_shares_the_socket_path(server: str, http: httpx.AsyncClient, alice: dict) -> None:
    """POST /api/conversations stores message and reply, and the user's open tabs see both."""
    async with connect(server, alice["access_token"]) as tab:
        body = {"replica_id": SOCRATES_UUID, "content": "what is virtue", "client_id": "rest-1"}
        response = await http.post("/api/conversations", json=body, headers=bearer(alice))
        assert response.status_code == 201
        answer = response.json()
        assert answer["message"]["seq"] == 1 and answer["reply"]["seq"] == 2
        reply, frames = await collect_reply(tab)
        assert reply["message"] == answer["reply"], "the POST answer and the socket show one message shape"
        assert frames[0]["message"]["client_id"] == "rest-1"
        repeat = await http.post("/api/conversations", json=body, headers=bearer(alice))
        assert repeat.status_code == 200 and repeat.json()["reply"]["id"] == answer["reply"]["id"]


async def test_history_pages_by_sequence(http: httpx.AsyncClient, alice: dict, bob: dict) -> None:
    for n in range(3):
        body = {"replica_id": ADA_LOVELACE_UUID, "content": f"question {n}"}
        assert (await http.post("/api/conversations", json=body, headers=bearer(alice))).status_code == 201
    params = {"replica_id": ADA_LOVELACE_UUID, "limit": 4}
    first = (await http.get("/api/conversations", params=params, headers=bearer(alice))).json()
    assert [m["seq"] for m in first["messages"]] == [6, 5, 4, 3] and first["next_before"] == 3
    params["before"] = first["next_before"]
    second = (await http.get("/api/conversations", params=params, headers=bearer(alice))).json()
    assert [m["seq"] for m in second["messages"]] == [2, 1] and second["next_before"] is None
    bad = await http.get("/api/conversations", params={"before": 3}, headers=bearer(alice))
    assert bad.status_code == 422
    assert (await http.get("/api/conversations", headers=bearer(bob))).json()["messages"] == []
