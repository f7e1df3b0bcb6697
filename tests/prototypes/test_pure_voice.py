"""Pure Voice: calls started in the app, a transcript streamed to the caller's sockets and kept per call, talk time
as the duration on hang-up."""

from __future__ import annotations

import asyncio

import httpx

from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica

from ..conftest import bearer
from ..utils import connect
from .support import act, collect_events, ok, problem, state

ID = "pure-voice"


async def test_call_lifecycle(http: httpx.AsyncClient, alice: dict) -> None:
    """start_call makes an active call, say answers with the replica, stop_call ends it with a duration."""
    call = (await ok(http, alice, ID, "start_call", replica_id=ADA_LOVELACE_UUID))["call"]
    assert call["status"] == "active" and call["replica_id"] == ADA_LOVELACE_UUID and call["ended_at"] is None

    said = await ok(http, alice, ID, "say", call_id=call["id"], text="hello over the wire")
    assert said["text"] == "hello over the wire" and 'You wrote: "hello over the wire"' in said["reply"]

    stopped = (await ok(http, alice, ID, "stop_call", call_id=call["id"]))["call"]
    assert stopped["status"] == "ended" and stopped["ended_at"] is not None and stopped["duration_seconds"] >= 0
    assert stopped["end_reason"] == "hung_up" and stopped["duration_seconds"] == stopped["talk_seconds"]

    calls = (await state(http, alice, ID))["calls"]
    assert [(c["id"], c["status"], c["duration_seconds"]) for c in calls] == [
        (call["id"], "ended", stopped["duration_seconds"])
    ]


async def test_unknown_foreign_and_stopped_calls_are_refused(http: httpx.AsyncClient, alice: dict, bob: dict) -> None:
    """Unknown or another user's call: 404; an ended call: 409 for say and stop; an unknown replica: 404."""
    call_id = (await ok(http, alice, ID, "start_call", replica_id=ADA_LOVELACE_UUID))["call"]["id"]
    problem(await act(http, bob, ID, "say", call_id=call_id, text="hi"), 404, "call_not_found")
    problem(await act(http, bob, ID, "stop_call", call_id=call_id), 404, "call_not_found")
    unknown = "00000000-0000-4000-8000-000000000000"
    problem(await act(http, alice, ID, "stop_call", call_id=unknown), 404, "call_not_found")
    await ok(http, alice, ID, "stop_call", call_id=call_id)
    problem(await act(http, alice, ID, "stop_call", call_id=call_id), 409, "call_ended")
    problem(await act(http, alice, ID, "say", call_id=call_id, text="still there?"), 409, "call_ended")
    problem(await act(http, alice, ID, "start_call", replica_id=unknown), 404, "replica_not_found")
    assert (await state(http, bob, ID))["calls"] == []
    problem(await http.get(f"/api/voice/calls/{call_id}/transcript", headers=bearer(bob)), 404, "call_not_found")
    problem(await http.get(f"/api/voice/calls/{unknown}/transcript", headers=bearer(alice)), 404, "call_not_found")


async def test_the_whole_transcript_is_kept_per_call_and_read_a_page_at_a_time(
    http: httpx.AsyncClient, alice: dict
) -> None:
    """Every line said and answered is stored in order, numbered per call, beyond any 20 latest records; pages
    follow ``next_after``; another call's lines stay apart."""
    call_id = (await ok(http, alice, ID, "start_call", replica_id=ADA_LOVELACE_UUID))["call"]["id"]
    other_id = (await ok(http, alice, ID, "start_call", replica_id=ADA_LOVELACE_UUID))["call"]["id"]
    replies = [(await ok(http, alice, ID, "say", call_id=call_id, text=f"line {n}"))["reply"] for n in range(11)]
    await ok(http, alice, ID, "say", call_id=other_id, text="elsewhere")

    lines: list[dict] = []
    after = 0
    while True:
        response = await http.get(
            f"/api/voice/calls/{call_id}/transcript", params={"after": after, "limit": 5}, headers=bearer(alice)
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["call"]["id"] == call_id and len(page["lines"]) <= 5
        lines += page["lines"]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert [line["seq"] for line in lines] == list(range(1, 23))
    said = [(line["speaker"], line["source"], line["text"], line["answers"]) for line in lines]
    expected = []
    for n, reply in enumerate(replies):
        expected += [("user", "text", f"line {n}", None), ("replica", "replica", reply, 2 * n + 1)]
    assert said == expected


async def test_transcript_streams_in_order_to_the_owner_only(
    server: str, http: httpx.AsyncClient, alice: dict, bob: dict
) -> None:
    """The user's line, then the replica's pieces, then its final line (the pieces joined); Bob sees nothing."""
    call_id = (await ok(http, alice, ID, "start_call", replica_id=ADA_LOVELACE_UUID))["call"]["id"]
    async with connect(server, alice["access_token"]) as tab, connect(server, bob["access_token"]) as other:
        said = await ok(http, alice, ID, "say", call_id=call_id, text="tell me about engines")
        lines = await collect_events(tab, ID, "transcript", lambda d: d["speaker"] == "replica" and d["final"])
        assert all(line["call_id"] == call_id for line in lines)
        assert lines[0] == {"call_id": call_id, "speaker": "user", "text": "tell me about engines", "final": True}
        pieces = lines[1:-1]
        assert len(pieces) > 1 and all(p["speaker"] == "replica" and p["final"] is False for p in pieces)
        assert "".join(p["text"] for p in pieces) == lines[-1]["text"] == said["reply"]
        assert await other.nothing_within(0.3) == []


async def test_a_replica_failing_mid_answer_ends_the_transcript_with_an_error(
    server: str, http: httpx.AsyncClient, alice: dict, replica: LocalReplica
) -> None:
    """The pieces said so far are followed by a transcript_error event, and the action answers 503."""
    call_id = (await ok(http, alice, ID, "start_call", replica_id=ADA_LOVELACE_UUID))["call"]["id"]
    async with connect(server, alice["access_token"]) as tab:
        replica.fail_next(after_words=2)
        problem(await act(http, alice, ID, "say", call_id=call_id, text="are you there"), 503, "replica_unavailable")
        first, _ = await tab.recv_until("prototype.event")
        assert first["event"] == "transcript" and first["data"]["speaker"] == "user"
        failure = await collect_events(tab, ID, "transcript_error", lambda d: True)
        assert failure == [{"call_id": call_id, "message": "the replica could not answer"}]


async def test_lines_said_at_once_are_all_kept_each_with_its_own_answer(http: httpx.AsyncClient, alice: dict) -> None:
    """Five lines said in parallel on one call: ten lines numbered 1-10 without a gap, and each replica line
    answers the user line it replied to."""
    call_id = (await ok(http, alice, ID, "start_call", replica_id=ADA_LOVELACE_UUID))["call"]["id"]
    said = await asyncio.gather(*(ok(http, alice, ID, "say", call_id=call_id, text=f"at once {n}") for n in range(5)))
    page = (await http.get(f"/api/voice/calls/{call_id}/transcript", headers=bearer(alice))).json()
    lines = {line["seq"]: line for line in page["lines"]}
    assert sorted(lines) == list(range(1, 11))
    for result in said:
        asked = lines[result["seq"]]
        assert (asked["speaker"], asked["text"]) == ("user", result["text"])
        [answer] = [line for line in lines.values() if line["answers"] == result["seq"]]
        assert answer["text"] == result["reply"] and result["text"] in answer["text"]
