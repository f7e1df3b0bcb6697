"""What a room's members hear of its turns: only what changes (a run starting, the turns ending), never a run
that a newer message superseded, and no run at all for a message that arrived while the replicas were busy."""

from __future__ import annotations

import httpx

from server.sensay.local import LocalReplica

from ..utils import connect
from .test_rooms import join_all, make_room, say, until_turns_end


async def test_messages_during_a_run_announce_nothing(
    server: str, http: httpx.AsyncClient, alice: dict, bob: dict, replica: LocalReplica
) -> None:
    """Two more messages while a replica answers the first: Bob hears their `message` frames and no `room.turns`;
    the first run ends unannounced, the second message's run never starts, the third's run answers."""
    replica.word_delay = 0.01
    room = await make_room(http, alice, [bob])
    async with connect(server, alice["access_token"]) as alice_tab, connect(server, bob["access_token"]) as bob_tab:
        await join_all(room, alice_tab, bob_tab)
        first = await say(alice_tab, room, "hello room", "m1")
        running, _ = await bob_tab.recv_until("room.turns")
        await bob_tab.recv_until("reply.delta")  # the first run's reply is under way
        await say(alice_tab, room, "still there?", "m2")
        third = await say(alice_tab, room, "and now?", "m3")
        end, frames = await until_turns_end(bob_tab)
        after = await bob_tab.nothing_within(0.5)
    assert (running["state"], running["run_id"]) == ("running", first["message_id"])
    assert not [f for f in frames + after if f["type"] == "room.turns"], "nothing else changed for the room"
    assert (end["state"], end["reason"], end["run_id"]) == ("idle", "done", third["message_id"])
    users = [f["message"]["content"] for f in frames if f["type"] == "message" and f["message"]["sender"] == "user"]
    assert users == ["still there?", "and now?"]
    answered = [f["message"]["reply_to"] for f in frames if f["type"] == "message" and f["message"]["sender"] != "user"]
    assert answered[:2] == [first["message_id"], third["message_id"]], "the second message's run never began"
    assert len(answered) == 1 + end["turns"] and replica.chat_requests == len(answered)


async def test_stop_during_a_run_drops_the_waiting_message_s_run(
    server: str, http: httpx.AsyncClient, alice: dict, replica: LocalReplica
) -> None:
    """`room.stop` ends the run under way and the run waiting behind it: one `stopped` and no more turns."""
    replica.word_delay = 0.02
    room = await make_room(http, alice, [], mode="round_robin", settings={"max_turns": 3})
    async with connect(server, alice["access_token"]) as tab:
        await join_all(room, tab)
        await say(tab, room, "talk among yourselves", "m1")
        await tab.recv_until("reply.delta")
        await say(tab, room, "and then?", "m2")
        await tab.send({"type": "room.stop", "id": "s", "room_id": room["id"]})
        end, _ = await until_turns_end(tab)
        late = await tab.nothing_within(0.5)
    assert (end["state"], end["reason"]) == ("stopped", "stopped by a member")
    assert not [f for f in late if f["type"] in ("room.turns", "reply.started", "message")]
    assert replica.chat_requests == 1
