"""The protocol as a front end meets it: every frame that asks for something gets an answer carrying its id."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import jwt

from protocol import FLOOD_FORGIVEN_PER_SECOND, FRAME_BURST, FRAME_RATE
from server.sensay.local import ADA_LOVELACE_UUID

from ..conftest import TEST_JWT_SECRET, bearer
from ..rooms.test_rooms import make_room
from ..utils import WsClient, connect, signup_and_login

BURST = 100


async def burst(client: WsClient, tag: str) -> tuple[set[str], set[str]]:
    """Send ``BURST`` pings at once; return the ids answered by ``pong`` and by ``rate_limited``."""
    ids = [f"{tag}-{n}" for n in range(BURST)]
    for frame_id in ids:
        await client.send({"type": "ping", "id": frame_id})
    ponged: set[str] = set()
    limited: set[str] = set()
    for _ in ids:
        frame = await client.recv()
        if frame["type"] == "pong":
            ponged.add(frame["id"])
        else:
            assert frame["type"] == "error" and frame["code"] == "rate_limited", frame
            assert frame["retryable"] is True
            limited.add(frame["id"])
    assert ponged | limited == set(ids) and not ponged & limited, "one answer per frame, with its id"
    return ponged, limited


async def test_bursts_separated_by_quiet_never_close_a_socket(server: str, alice: dict) -> None:
    """Each dropped frame's rate_limited error carries its id; quiet between bursts forgives the drops (no 4009)."""
    quiet = (BURST - FRAME_BURST) / FLOOD_FORGIVEN_PER_SECOND + 0.5
    async with connect(server, alice["access_token"]) as tab:
        for n in range(4):  # before the count decayed, the third such burst closed the socket
            if n:
                await asyncio.sleep(quiet)
            _, limited = await burst(tab, f"b{n}")
            assert limited, "the burst went over the limit"
        await asyncio.sleep(1 / FRAME_RATE)  # one frame's worth of budget
        await tab.send({"type": "ping", "id": "still here"})
        assert await tab.recv() == {"type": "pong", "id": "still here"}


async def test_a_fresh_token_is_answered_by_hello_and_extends_the_socket(server: str, http: httpx.AsyncClient) -> None:
    """Re-auth with the same user's fresh token: a second hello on the same connection, which keeps working."""
    first = await signup_and_login(http, "renew@example.com")
    second = (await http.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    async with connect(server) as tab:
        await tab.send({"type": "auth", "token": first["access_token"]})
        hello = await tab.recv()
        await tab.send({"type": "auth", "id": "renew", "token": second["access_token"]})
        again = await tab.recv()
        assert again["type"] == "hello" and again["connection_id"] == hello["connection_id"]
        assert again["user_id"] == hello["user_id"]
        await tab.send({"type": "ping", "id": "p"})
        assert await tab.recv() == {"type": "pong", "id": "p"}


async def test_another_users_token_is_refused_and_the_socket_stays(server: str, alice: dict, bob: dict) -> None:
    """Re-auth with someone else's token: already_authenticated with the frame's id; the socket is still Alice's."""
    async with connect(server, alice["access_token"]) as tab:
        await tab.send({"type": "auth", "id": "swap", "token": bob["access_token"]})
        error = await tab.recv()
        assert (error["type"], error["code"], error["id"]) == ("error", "already_authenticated", "swap")
        await tab.send({"type": "ping", "id": "p"})
        assert await tab.recv() == {"type": "pong", "id": "p"}


async def test_an_invalid_token_on_reauth_closes_with_4001(server: str, alice: dict) -> None:
    """Re-auth with an expired token closes the socket with 4001, as on connect."""
    claims = jwt.decode(alice["access_token"], TEST_JWT_SECRET, algorithms=["HS256"], audience="authenticated")
    expired = jwt.encode({**claims, "exp": int(time.time()) - 30}, TEST_JWT_SECRET, algorithm="HS256")
    async with connect(server, alice["access_token"]) as tab:
        await tab.send({"type": "auth", "id": "renew", "token": expired})
        assert await tab.close_code() == 4001


async def test_room_send_needs_the_room_joined_and_leave_and_stop_are_acked(
    server: str, http: httpx.AsyncClient, alice: dict
) -> None:
    """room.send before room.join is forbidden and stores nothing; room.stop and room.leave answer with an ack."""
    room = await make_room(http, alice, [], settings={"max_turns": 1})
    async with connect(server, alice["access_token"]) as tab:
        await tab.send({"type": "room.send", "id": "early", "room_id": room["id"], "content": "hello?"})
        refused = await tab.recv()
        assert (refused["type"], refused["code"], refused["id"]) == ("error", "forbidden", "early")
        await tab.send({"type": "room.join", "id": "j", "room_id": room["id"]})
        await tab.recv_until("room.presence")
        await tab.send({"type": "room.stop", "id": "stop", "room_id": room["id"]})
        ack, _ = await tab.recv_until("ack")
        assert ack == {"type": "ack", "id": "stop"}
        await tab.send({"type": "room.leave", "id": "bye", "room_id": room["id"]})
        ack, _ = await tab.recv_until("ack")
        assert ack == {"type": "ack", "id": "bye"}
        await tab.send({"type": "room.leave", "id": "bye again", "room_id": room["id"]})
        assert await tab.recv() == {"type": "ack", "id": "bye again"}, "leaving twice is no error"
        await tab.send({"type": "room.typing", "id": "t", "room_id": room["id"], "typing": True})
        assert (await tab.recv())["code"] == "forbidden", "a left room is not typed in"
    messages = (await http.get(f"/api/rooms/{room['id']}/messages", headers=bearer(alice))).json()["messages"]
    assert messages == []


async def test_stop_by_an_outsider_is_refused(server: str, http: httpx.AsyncClient, alice: dict, bob: dict) -> None:
    """room.stop of a room the user cannot see answers not_found with the frame's id."""
    room = await make_room(http, alice, [])
    async with connect(server, bob["access_token"]) as tab:
        await tab.send({"type": "room.stop", "id": "s", "room_id": room["id"]})
        error = await tab.recv()
        assert (error["type"], error["code"], error["id"]) == ("error", "not_found", "s")


async def test_resume_names_streams_that_cannot_be_resumed(
    server: str, http: httpx.AsyncClient, alice: dict, bob: dict
) -> None:
    """Unknown room: not_found; a room of others: forbidden; unknown replica: replica_not_found; the rest resumes."""
    private = await make_room(http, alice, [])
    open_room = await make_room(http, alice, [], is_open=True)
    unknown_room = f"room:{uuid.uuid4()}"
    streams = {
        unknown_room: 0,
        f"room:{private['id']}": 0,
        f"room:{open_room['id']}": 0,
        "chat:no-such-replica": 0,
        f"chat:{ADA_LOVELACE_UUID}": 0,
    }
    async with connect(server, bob["access_token"]) as tab:
        await tab.send({"type": "resume", "id": "r", "streams": streams})
        answers = {}
        for _ in streams:
            frame = await tab.recv()
            answers[frame["stream"]] = frame["code"] if frame["type"] == "error" else frame["type"]
            assert frame["type"] == "resumed" or frame["id"] == "r"
    assert answers == {
        unknown_room: "not_found",
        f"room:{private['id']}": "not_found",  # not visible to Bob at all
        f"room:{open_room['id']}": "forbidden",  # visible, but Bob is not a member
        "chat:no-such-replica": "replica_not_found",
        f"chat:{ADA_LOVELACE_UUID}": "resumed",
    }


async def test_invalid_utf8_closes_with_1007(server: str, alice: dict) -> None:
    """A text frame that is not UTF-8 is closed by the WebSocket layer with 1007 (listed in the docs)."""
    async with connect(server, alice["access_token"]) as tab:
        await tab.ws.send(b'{"type": "ping", "id": "\xff"}', text=True)
        assert await tab.close_code() == 1007
