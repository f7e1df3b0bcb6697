"""A room changes course: ``PATCH /api/rooms/{id}`` sets the mode of its next run and tells its members."""

from __future__ import annotations

import httpx
import pytest

from server.sensay.local import ADA_LOVELACE_UUID, SENSAY_GUIDE_UUID, SOCRATES_UUID, LocalReplica

from ..conftest import bearer
from ..utils import connect
from .test_modes import of_type
from .test_rooms import join_all, make_room, say, speakers, until_turns_end

ADA, SOCRATES, GUIDE = ADA_LOVELACE_UUID, SOCRATES_UUID, SENSAY_GUIDE_UUID


async def test_a_new_mode_takes_the_next_run_not_the_one_running(
    server: str, http: httpx.AsyncClient, alice: dict, bob: dict, replica: LocalReplica
) -> None:
    """Changed during a round-robin run: that run ends as round robin; Bob's socket hears `room.mode`; the next run
    is SWOT (its phases show) and the room as read back says so."""
    replica.word_delay = 0.01
    room = await make_room(http, alice, [bob], mode="round_robin", settings={"max_turns": 3})
    change = {"mode": "swot", "settings": {"max_turns": 2, "moderator_id": GUIDE}}
    async with connect(server, alice["access_token"]) as alice_tab, connect(server, bob["access_token"]) as bob_tab:
        await join_all(room, alice_tab, bob_tab)
        await say(alice_tab, room, "hello everyone", "m1")
        await bob_tab.recv_until("reply.delta")  # the round-robin run is under way
        changed = await http.patch(f"/api/rooms/{room['id']}", json=change, headers=bearer(alice))
        assert changed.status_code == 200, changed.text
        end, frames = await until_turns_end(bob_tab)
        [announced] = of_type(frames, "room.mode")
        assert not of_type(frames, "room.phase"), "the run under way keeps its mode"
        assert (end["reason"], speakers(frames)) == ("done", [ADA, SOCRATES, GUIDE])
        await say(alice_tab, room, "our tea shop", "m2")
        end, frames = await until_turns_end(bob_tab)
    assert announced == {
        "type": "room.mode",
        "room_id": room["id"],
        "mode": "swot",
        "settings": change["settings"],
        "changed_by": alice["user"]["id"],
    }
    assert [f["phase"] for f in of_type(frames, "room.phase")] == ["strengths", "weaknesses"]
    [running] = of_type(frames, "room.turns")
    assert running["roles"][GUIDE] == ["strategy"], "the new mode's lead"
    assert (end["reason"], end["turns"]) == ("turn limit", 2)
    assert changed.json()["mode"] == "swot" and changed.json()["settings"] == change["settings"]
    detail = (await http.get(f"/api/rooms/{room['id']}", headers=bearer(bob))).json()
    assert (detail["room"]["mode"], detail["room"]["settings"]) == ("swot", change["settings"])


async def test_only_the_creator_changes_the_mode(http: httpx.AsyncClient, alice: dict, bob: dict) -> None:
    """A member who did not create the room is 403; someone who cannot see it is 404; neither changes it."""
    shared = await make_room(http, alice, [bob], mode="round_robin")
    private = await make_room(http, alice, [], mode="round_robin")
    by_member = await http.patch(f"/api/rooms/{shared['id']}", json={"mode": "swot"}, headers=bearer(bob))
    by_outsider = await http.patch(f"/api/rooms/{private['id']}", json={"mode": "swot"}, headers=bearer(bob))
    assert (by_member.status_code, by_member.json()["code"]) == (403, "forbidden")
    assert (by_outsider.status_code, by_outsider.json()["code"]) == (404, "not_found")
    for room in (shared, private):
        detail = (await http.get(f"/api/rooms/{room['id']}", headers=bearer(alice))).json()
        assert detail["room"]["mode"] == "round_robin"


@pytest.mark.parametrize(
    "body",
    [
        {"mode": "chaotic"},
        {},
        {"mode": "topic"},
        {"mode": "moderated", "settings": {"moderator_id": "not-in-the-room"}},
        {"mode": "natural", "settings": {"max_turns": 50}},
        {"mode": "natural", "colour": "blue"},
    ],
    ids=["unknown-mode", "no-mode", "topic-without-topic", "stranger-moderator", "too-many-turns", "unknown-field"],
)
async def test_a_bad_change_is_refused_like_a_bad_room(http: httpx.AsyncClient, alice: dict, body: dict) -> None:
    room = await make_room(http, alice, [], replica_ids=[ADA, SOCRATES], mode="round_robin")
    response = await http.patch(f"/api/rooms/{room['id']}", json=body, headers=bearer(alice))
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    detail = (await http.get(f"/api/rooms/{room['id']}", headers=bearer(alice))).json()
    assert detail["room"]["mode"] == "round_robin"
