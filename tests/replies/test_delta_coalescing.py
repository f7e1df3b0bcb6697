"""`reply.delta` frames are coalesced (`REPLY_DELTA_MS`): the first piece at once, then what streamed since, in
fewer frames numbered from 0, whose texts appended in order are the stored reply; 0 sends a frame per piece."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from server.app import create_app
from server.config import Settings
from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica

from ..chat.test_chat import collect_reply
from ..utils import connect, run_server


@asynccontextmanager
async def serving(settings: Settings, replica: LocalReplica, delta_ms: float) -> AsyncIterator[str]:
    """A server with ``REPLY_DELTA_MS`` set to ``delta_ms``."""
    app = create_app(dataclasses.replace(settings, reply_delta_ms=delta_ms), replica=replica)
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
