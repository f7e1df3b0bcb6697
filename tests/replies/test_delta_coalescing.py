"""`reply.delta` frames are coalesced (`REPLY_DELTA_MS`, in rooms `ROOM_DELTA_MS`): the first piece at once, then
what streamed since, in fewer frames numbered from 0, whose texts appended in order are the stored reply; 0 sends a
frame per piece."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from server.app import create_app
from server.config import Settings
from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica

from ..chat.test_chat import collect_reply
from ..rooms.test_rooms import join_all, make_room, say, until_turns_end
from ..utils import connect, run_server


@asynccontextmanager
async def serving(
    settings: Settings, replica: LocalReplica, delta_ms: float, room_delta_ms: float = 200
) -> AsyncIterator[str]:
    """A server with ``REPLY_DELTA_MS`` set to ``delta_ms`` and ``ROOM_DELTA_MS`` to ``room_delta_ms``."""
    changed = dataclasses.replace(settings, reply_delta_ms=delta_ms, room_delta_ms=room_delta_ms)
    app = create_app(changed, replica=replica)
    async with run_server(app) as url:
        yield url


async def deltas_of_one_turn(url: str, token: str, frame_id: str) -> tuple[list[dict], str]:
    async with connect(url, token) as tab:
        await tab.send({"type": "chat.send", "id": frame_id, "replica_id": ADA_LOVELACE_UUID, "content": "hello"})
        reply, frames = await collect_reply(tab)
    return [f for f in frames if f["type"] == "reply.delta"], reply["message"]["content"]


async def test_deltas_are_coalesced_and_add_up_to_the_reply(
    settings: Settings, replica: LocalReplica, alice: dict
) -> None:
    """A reply streamed at once comes as two deltas (the first piece, then the rest) under a long interval, and
    as one delta per streamed piece with coalescing off; both add up to the same stored text."""
    async with serving(settings, replica, 60_000) as url:
        coalesced, content = await deltas_of_one_turn(url, alice["access_token"], "c-1")
    async with serving(settings, replica, 0) as url:
        each, content_again = await deltas_of_one_turn(url, alice["access_token"], "c-2")
    assert [d["index"] for d in coalesced] == [0, 1]
    assert "".join(d["text"] for d in coalesced) == content
    assert len(each) > 2 and [d["index"] for d in each] == list(range(len(each)))
    assert "".join(d["text"] for d in each) == content_again
    assert each[0]["text"] == coalesced[0]["text"], "the first piece is sent at once either way"


async def test_a_room_s_replies_are_coalesced_by_their_own_interval(
    settings: Settings, replica: LocalReplica, http: httpx.AsyncClient, alice: dict
) -> None:
    """With `ROOM_DELTA_MS` long and `REPLY_DELTA_MS` 0, each replica turn in a room comes as two deltas that add up
    to its message, while a chat reply of the same server comes as a delta per streamed piece."""
    async with serving(settings, replica, 0, room_delta_ms=60_000) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as rest:
            room = await make_room(rest, alice, [])
        async with connect(url, alice["access_token"]) as tab:
            await join_all(room, tab)
            await say(tab, room, "hello everyone", "r-1")
            _, frames = await until_turns_end(tab)
        chat, _ = await deltas_of_one_turn(url, alice["access_token"], "c-3")
    turns: list[tuple[list[dict], dict]] = []  # a run's turns are taken one at a time: each one's deltas, message
    deltas: list[dict] = []
    for frame in frames:
        if frame["type"] == "reply.delta":
            deltas.append(frame)
        elif frame["type"] == "message" and frame["message"]["sender"] != "user":
            turns.append((deltas, frame["message"]))
            deltas = []
    assert turns, "the room's replicas answered"
    for turn_deltas, reply in turns:
        assert [d["index"] for d in turn_deltas] == [0, 1], reply["replica_id"]
        assert "".join(d["text"] for d in turn_deltas) == reply["content"]
    assert len(chat) > 2 and [d["index"] for d in chat] == list(range(len(chat)))
