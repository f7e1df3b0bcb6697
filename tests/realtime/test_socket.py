"""``/realtime/v1/websocket`` on a real hub, spoken frame by frame as supabase-js (2.0.0) and realtime-py (1.0.0) do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
import websockets

from server.app import create_app
from server.config import Secret, Settings
from server.realtime.phoenix import Message, Vsn
from server.realtime.session import EVENTS_BURST, TOO_MANY
from server.sensay.local import LocalReplica

from ..auth.gotrue_support import ANON_KEY, PASSWORD, gotrue_settings
from ..conftest import TEST_JWT_SECRET
from ..services import PrivateRedis
from ..utils import run_server, signup_and_login
from .phoenix_client import WAIT, phoenix_socket, realtime_url, stalled_socket

QUIET = 0.5
"""Seconds to wait for a frame that must not come (after a later frame proved the earlier one was sent)."""


@pytest.fixture
async def hub(settings: Settings, replica: LocalReplica) -> AsyncIterator[str]:
    async with run_server(create_app(gotrue_settings(settings), replica=replica)) as url:
        yield url


async def _user(base_url: str, email: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        return await signup_and_login(http, email)


def _tasks(**binding: Any) -> dict[str, Any]:
    return {"postgres_changes": [{"event": "*", "schema": "public", "table": "tasks", **binding}]}


@pytest.mark.parametrize("vsn", [Vsn.V2, Vsn.V1])
async def test_join_heartbeat_leave(hub: str, vsn: Vsn) -> None:
    """A join is answered ok with the bindings and their ids, then "Subscribed to PostgreSQL"; heartbeats are
    answered; a leave is answered, then closed."""
    alice = await _user(hub, "alice@example.com")
    async with phoenix_socket(hub, ANON_KEY, vsn) as client:
        ref = await client.send(
            "realtime:room", "phx_join", {"config": _tasks(), "access_token": alice["access_token"]}
        )
        reply, _ = await client.expect(lambda m: m.event == "phx_reply")
        assert reply.ref == ref and reply.payload["status"] == "ok"
        (binding,) = reply.payload["response"]["postgres_changes"]
        assert binding == {"event": "*", "schema": "public", "table": "tasks", "id": binding["id"]} and binding["id"]
        system = await client.recv()
        assert system.event == "system" and system.payload == {
            "extension": "postgres_changes",
            "status": "ok",
            "message": "Subscribed to PostgreSQL",
            "channel": "room",
        }
        beat = await client.send("phoenix", "heartbeat", {})
        assert (await client.reply(beat)).payload == {"status": "ok", "response": {}}
        leave = await client.send("realtime:room", "phx_leave", {})
        assert (await client.reply(leave)).payload["status"] == "ok"
        closed = await client.recv()
        assert (closed.event, closed.topic) == ("phx_close", "realtime:room")
        after = await client.send("realtime:room", "broadcast", {"type": "broadcast", "event": "x", "payload": {}})
        assert (await client.reply(after)).payload == {"status": "error", "response": {"reason": "unmatched topic"}}


async def test_postgres_changes_follow_row_level_security(hub: str) -> None:
    """Each subscriber hears only of rows the policies let it select: the owner all three events (a DELETE with the
    key only), another user and the anon key nothing; a filter narrows further."""
    alice, bob = await _user(hub, "alice@example.com"), await _user(hub, "bob@example.com")
    alice_id = alice["user"]["id"]
    async with (
        phoenix_socket(hub, ANON_KEY) as mine,
        phoenix_socket(hub, ANON_KEY, Vsn.V1) as filtered,
        phoenix_socket(hub, ANON_KEY) as theirs,
        phoenix_socket(hub, ANON_KEY) as anon,
        httpx.AsyncClient(base_url=hub, headers={"Authorization": f"Bearer {alice['access_token']}"}) as http,
    ):
        await mine.join("realtime:a", _tasks(), access_token=alice["access_token"])
        other = {"filter": "status=eq.completed"}
        await filtered.join("realtime:f", _tasks(**other), access_token=alice["access_token"])
        await theirs.join("realtime:b", _tasks(), access_token=bob["access_token"])
        await anon.join("realtime:c", _tasks())
        for client in (mine, filtered, theirs, anon):
            await client.event("system")

        created = (await http.post("/api/tasks", json={"description": "buy milk"})).json()
        insert = await mine.event("postgres_changes")
        data = insert.payload["data"]
        assert data["type"] == "INSERT" and data["table"] == "tasks" and data["schema"] == "public"
        assert data["record"]["id"] == created["id"] and data["record"]["user_id"] == alice_id
        assert data["record"]["description"] == "buy milk" and "old_record" not in data
        assert {"name": "user_id", "type": "uuid"} in data["columns"] and data["commit_timestamp"]

        await http.patch(f"/api/tasks/{created['id']}", json={"status": "completed"})
        update = (await mine.event("postgres_changes")).payload["data"]
        assert update["type"] == "UPDATE" and update["record"]["status"] == "completed"
        assert update["old_record"] == {"id": created["id"]}
        only_done = (await filtered.event("postgres_changes")).payload["data"]
        assert only_done["type"] == "UPDATE", "the INSERT (status pending) did not pass the filter"

        await http.delete(f"/api/tasks/{created['id']}")
        delete = (await mine.event("postgres_changes")).payload["data"]
        assert delete["type"] == "DELETE" and delete["old_record"] == {"id": created["id"]} and "record" not in delete
        assert (await filtered.event("postgres_changes")).payload["data"]["type"] == "DELETE"

        assert await theirs.nothing(QUIET, "postgres_changes") == []
        assert await anon.nothing(QUIET, "postgres_changes") == []


async def test_bad_joins_are_answered_like_realtime(hub: str) -> None:
    """Refused tokens, a missing topic name, private channels and unknown tables get Realtime's answers."""
    alice = await _user(hub, "alice@example.com")
    expired = jwt.encode(
        {"sub": alice["user"]["id"], "role": "authenticated", "aud": "authenticated", "exp": int(time.time()) - 60},
        TEST_JWT_SECRET,
    )
    forged = jwt.encode(
        {"sub": alice["user"]["id"], "role": "authenticated", "aud": "authenticated", "exp": int(time.time()) + 600},
        "not-the-secret-" + "y" * 40,
    )
    async with phoenix_socket(hub, ANON_KEY) as client:

        async def reason(topic: str, **payload: Any) -> str:
            reply = await client.join(topic, **payload)
            assert reply.payload["status"] == "error", reply
            return str(reply.payload["response"]["reason"])

        assert (await reason("realtime:x", access_token=expired)).startswith("InvalidJWTToken: Token has expired ")
        assert (
            await reason("realtime:x", access_token="garbage") == "MalformedJWT: The token provided is not a valid JWT"
        )
        assert await reason("realtime:x", access_token=forged) == "JwtSignatureError: Failed to validate JWT signature"
        assert await reason("realtime:") == "TopicNameRequired: You must provide a topic name"
        assert await reason("realtime:x", config={"private": True}) == (
            "Unauthorized: You do not have permissions to read from this Channel topic: x"
        )
        assert await reason("elsewhere") == "unmatched topic"

        bad = [
            {"event": "*", "schema": "public", "table": "users"},
            {"event": "*", "table": "tasks", "filter": "id=zz.1"},
        ]
        reply = await client.join("realtime:x", {"postgres_changes": bad}, access_token=alice["access_token"])
        assert reply.payload["status"] == "ok"
        assert [b["table"] for b in reply.payload["response"]["postgres_changes"]] == ["users", "tasks"]
        first, second = await client.event("system"), await client.event("system")
        assert first.payload["status"] == "error" and "table: users" in first.payload["message"]
        assert second.payload["status"] == "error" and "Error parsing `filter` params" in second.payload["message"]


async def test_handshake_refusals(hub: str) -> None:
    """No apikey, a wrong one, or an unknown serializer version are refused before the upgrade."""
    for apikey, vsn, status in ((None, Vsn.V2, 401), ("wrong", Vsn.V2, 401)):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(realtime_url(hub, apikey, vsn), open_timeout=WAIT):
                pass
        assert refused.value.response.status_code == status
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(realtime_url(hub, ANON_KEY).replace("2.0.0", "3.0.0"), open_timeout=WAIT):
            pass
    assert refused.value.response.status_code == 400


async def test_a_refused_token_refresh_shuts_the_channel(hub: str) -> None:
    """An ``access_token`` message with a bad token ends the channel: a system error, then phx_close."""
    alice = await _user(hub, "alice@example.com")
    async with phoenix_socket(hub, ANON_KEY) as client:
        await client.join("realtime:x", access_token=alice["access_token"])
        await client.send("realtime:x", "access_token", {"access_token": alice["access_token"]})  # same: ignored
        await client.send("realtime:x", "access_token", {"access_token": "garbage"})
        system = await client.event("system")
        assert system.payload == {
            "extension": "system",
            "status": "error",
            "message": "The token provided is not a valid JWT",
            "channel": "x",
        }
        assert (await client.recv()).event == "phx_close"


def _broadcasts(messages: list[Message]) -> list[Any]:
    return [m.payload["payload"] for m in messages if m.event == "broadcast"]


async def test_broadcast_between_clients(hub: str) -> None:
    """JSON and binary broadcasts reach the other channels on the topic (and the sender's with ``self``), with an
    ack reply when asked; V1 sockets get JSON, V2 sockets binary frames for binary pushes."""
    async with (
        phoenix_socket(hub, ANON_KEY) as sender,
        phoenix_socket(hub, ANON_KEY, Vsn.V1) as listener,
        phoenix_socket(hub, ANON_KEY) as elsewhere,
    ):
        await sender.join("realtime:chat", {"broadcast": {"self": True, "ack": True}})
        await listener.join("realtime:chat", {"broadcast": {"self": False}})
        await elsewhere.join("realtime:other")

        ref = await sender.send("realtime:chat", "broadcast", {"type": "broadcast", "event": "hi", "payload": {"n": 1}})
        acked, before = await sender.expect(lambda m: m.event == "phx_reply" and m.ref == ref)
        assert acked.payload == {"status": "ok", "response": {}}
        heard = await listener.event("broadcast")
        assert heard.payload == {"type": "broadcast", "event": "hi", "payload": {"n": 1}} and heard.ref is None
        own = _broadcasts(before) or [(await sender.event("broadcast")).payload["payload"]]
        assert own == [{"n": 1}], "self: the sender hears it too"

        await sender.send_binary_broadcast("realtime:chat", "cursor", {"x": 3})
        assert (await listener.event("broadcast")).payload == {
            "type": "broadcast",
            "event": "cursor",
            "payload": {"x": 3},
        }
        echoed = await sender.event("broadcast")
        assert echoed.payload["payload"] == {"x": 3}

        await listener.send("realtime:chat", "broadcast", {"type": "broadcast", "event": "back", "payload": {}})
        assert (await sender.event("broadcast")).payload["event"] == "back"
        assert await listener.nothing(QUIET, "broadcast") == [], "without self the sender does not hear itself"
        assert await elsewhere.nothing(QUIET, "broadcast") == [], "another topic hears nothing"


async def test_presence_track_untrack(hub: str) -> None:
    """Tracking shows in the others' ``presence_diff`` and later joiners' ``presence_state``; untrack and leaving
    are diffs of leaves."""
    async with phoenix_socket(hub, ANON_KEY) as first, phoenix_socket(hub, ANON_KEY, Vsn.V1) as second:
        await first.join("realtime:lobby", {"presence": {"key": "ada", "enabled": True}})
        assert (await first.event("presence_state")).payload == {}
        ref = await first.send(
            "realtime:lobby", "presence", {"type": "presence", "event": "track", "payload": {"at": 1}}
        )
        assert (await first.reply(ref)).payload["status"] == "ok"
        joined = (await first.event("presence_diff")).payload
        assert joined["leaves"] == {} and joined["joins"]["ada"]["metas"][0]["at"] == 1

        await second.join("realtime:lobby", {"presence": {"key": "bob", "enabled": True}})
        state = (await second.event("presence_state")).payload
        assert list(state) == ["ada"] and state["ada"]["metas"][0]["at"] == 1 and state["ada"]["metas"][0]["phx_ref"]
        await second.send("realtime:lobby", "presence", {"type": "presence", "event": "track", "payload": {"at": 2}})
        assert list((await first.event("presence_diff")).payload["joins"]) == ["bob"]

        await first.send("realtime:lobby", "presence", {"type": "presence", "event": "untrack"})
        diffs = [(await second.event("presence_diff")).payload for _ in range(2)]
        assert list(diffs[-1]["leaves"]) == ["ada"]
        await second.send("realtime:lobby", "phx_leave", {})
        left, _ = await first.expect(lambda m: m.event == "presence_diff" and "bob" in m.payload["leaves"])
        assert left.payload["joins"] == {}


async def test_two_hubs_on_one_redis_share_broadcast_and_presence(
    settings: Settings, replica: LocalReplica, redis: PrivateRedis
) -> None:
    """Channels on two processes sharing Redis hear each other's broadcasts and presence."""
    shared = gotrue_settings(replace(settings, redis_url=Secret(redis.url)))
    async with run_server(create_app(shared, replica=replica)) as one, run_server(create_app(shared)) as two:
        async with phoenix_socket(one, ANON_KEY) as a, phoenix_socket(two, ANON_KEY) as b:
            await a.join("realtime:room", {"presence": {"key": "a", "enabled": True}})
            await a.event("presence_state")
            await a.send("realtime:room", "presence", {"type": "presence", "event": "track", "payload": {"on": "one"}})
            await a.event("presence_diff")
            await b.join("realtime:room", {"presence": {"key": "b", "enabled": True}})
            # b's process learns a's presence from a's process: in its state, or as a diff right after it
            known, _ = await b.expect(
                lambda m: "a" in m.payload if m.event == "presence_state" else "a" in m.payload.get("joins", {})
            )
            metas = (known.payload if known.event == "presence_state" else known.payload["joins"])["a"]["metas"]
            assert metas[0]["on"] == "one"
            await b.send("realtime:room", "broadcast", {"type": "broadcast", "event": "hello", "payload": {"from": 2}})
            assert (await a.event("broadcast")).payload["payload"] == {"from": 2}


def test_not_served_with_supabase(settings: Settings) -> None:
    """With ``SUPABASE_URL`` the front end talks to Supabase's Realtime: the hub has no such route."""
    paths = {getattr(route, "path", None) for route in create_app(settings).routes}
    assert "/realtime/v1/websocket" in paths
    supabase = replace(settings, supabase_url="https://example.supabase.co")
    assert "/realtime/v1/websocket" not in {getattr(route, "path", None) for route in create_app(supabase).routes}


async def test_a_flood_shuts_the_channel(hub: str) -> None:
    """More messages than Realtime's budget end the channel they were for, as Realtime ends it; the socket and
    its heartbeats go on."""
    async with phoenix_socket(hub, ANON_KEY) as client:
        await client.join("realtime:flood")
        frame = {"type": "broadcast", "event": "spam", "payload": {}}
        for _ in range(EVENTS_BURST + 50):
            await client.send("realtime:flood", "broadcast", frame)
        shut, _ = await client.expect(lambda m: m.event == "system")
        assert shut.payload == {"extension": "system", "status": "error", "message": TOO_MANY, "channel": "flood"}
        assert (await client.recv()).event == "phx_close"
        beat = await client.send("phoenix", "heartbeat", {})
        assert (await client.reply(beat)).payload["status"] == "ok"


async def test_a_logout_ends_the_sessions_channels(hub: str) -> None:
    """A logout ends the channels acting with that session's tokens (as it closes its /ws sockets); the token is
    refused afterwards. Another session's channel goes on."""
    alice = await _user(hub, "alice@example.com")
    async with httpx.AsyncClient(base_url=hub, timeout=10) as http:
        other = (await http.post("/api/auth/login", json={"email": "alice@example.com", "password": PASSWORD})).json()
    async with phoenix_socket(hub, ANON_KEY) as client:
        await client.join("realtime:mine", access_token=alice["access_token"])
        await client.join("realtime:other", {"broadcast": {"ack": True}}, access_token=other["access_token"])
        async with httpx.AsyncClient(
            base_url=hub, headers={"Authorization": f"Bearer {alice['access_token']}"}
        ) as http:
            assert (await http.post("/api/auth/logout")).status_code == 204
        ended = await client.event("system")
        assert ended.topic == "realtime:mine" and ended.payload["message"] == "The token's session has ended"
        assert ended.payload["status"] == "error"
        closed = await client.recv()
        assert (closed.event, closed.topic) == ("phx_close", "realtime:mine")
        again = await client.join("realtime:again", access_token=alice["access_token"])
        assert again.payload["response"] == {"reason": "InvalidJWTToken: The token's session has ended"}
        still = await client.send("realtime:other", "broadcast", {"type": "broadcast", "event": "x", "payload": {}})
        assert (await client.reply(still)).payload["status"] == "ok", "the other session's channel is still joined"


async def test_a_feed_gap_is_told_to_subscribers(hub: str, database_url: str) -> None:
    """When the change feed may have missed changes (its LISTEN connection was cut), each channel with
    postgres_changes hears a ``system`` error naming it, then "Subscribed to PostgreSQL" again; changes follow."""
    alice = await _user(hub, "alice@example.com")
    conn = await asyncpg.connect(database_url)
    try:
        async with phoenix_socket(hub, ANON_KEY) as client:
            await client.join("realtime:a", _tasks(), access_token=alice["access_token"])
            await client.event("system")
            killed = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'sensay-hub change feed'"
            )
            assert killed == 1
            gap, again = (await client.event("system", timeout=15)).payload, (await client.event("system")).payload
            assert gap["status"] == "error" and gap["extension"] == "postgres_changes" and "missed" in gap["message"]
            assert again["status"] == "ok" and again["message"] == "Subscribed to PostgreSQL"
            await conn.execute("INSERT INTO tasks (user_id, description) VALUES ($1, 'after')", alice["user"]["id"])
            change = await client.event("postgres_changes")
            assert change.payload["data"]["record"]["description"] == "after"
    finally:
        await conn.close()


async def test_a_frame_that_is_no_phoenix_message_closes_the_socket(hub: str) -> None:
    """Nothing can be answered to a frame without a topic or ref: the socket closes with 4000 and the reason."""
    async with websockets.connect(realtime_url(hub, ANON_KEY), open_timeout=WAIT) as ws:
        await ws.send('{"not": "an array"}')
        with pytest.raises(websockets.ConnectionClosed):
            async with asyncio.timeout(WAIT):
                while True:
                    await ws.recv()
        assert ws.close_code == 4000 and ws.close_reason.startswith("not a Phoenix message")


async def test_a_client_that_does_not_read_is_closed_while_others_keep_receiving(
    settings: Settings, replica: LocalReplica
) -> None:
    """A socket whose send queue fills (``WS_SEND_QUEUE``) is closed with 4008; a reading one on the same topic
    gets every broadcast."""
    small_queue = gotrue_settings(replace(settings, ws_send_queue=16))
    async with run_server(create_app(small_queue, replica=replica)) as url:
        slow = await stalled_socket(url, ANON_KEY, "realtime:big")
        async with phoenix_socket(url, ANON_KEY) as sender, phoenix_socket(url, ANON_KEY) as reader:
            await sender.join("realtime:big", {"broadcast": {"ack": True}})
            await reader.join("realtime:big")
            big = "x" * 60_000
            for n in range(120):
                ref = await sender.send(
                    "realtime:big", "broadcast", {"type": "broadcast", "event": "e", "payload": {"n": n, "big": big}}
                )
                await sender.reply(ref)
                assert (await reader.event("broadcast")).payload["payload"]["n"] == n
        data = bytearray()
        close_frame = (4008).to_bytes(2, "big") + b"send queue overflowed"
        async with asyncio.timeout(WAIT):
            while close_frame not in data:  # read what was buffered, down to the close frame
                chunk = await asyncio.get_running_loop().sock_recv(slow, 1 << 20)
                assert chunk, "the server hung up without a close frame"
                data += chunk
        slow.close()
