"""The sans-I/O parts of /realtime/v1: Phoenix frames of both serializers, bindings and filters, presence diffs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.realtime import phoenix
from server.realtime.bindings import BindingError, parse_binding, parse_filter
from server.realtime.phoenix import Message, ProtocolError, Vsn
from server.realtime.presence import Entry, TopicPresence

# -- frames ------------------------------------------------------------------------------------------


def test_v2_arrays_both_ways() -> None:
    """supabase-js's arrays decode to messages; replies go back as arrays with the join ref."""
    join = phoenix.decode_text('["1","1","realtime:x","phx_join",{"config":{}}]', Vsn.V2)
    assert join == Message("realtime:x", "phx_join", {"config": {}}, "1", "1")
    reply = phoenix.reply(join, "ok", {"postgres_changes": []})
    assert json.loads(phoenix.encode(reply, Vsn.V2)) == [
        "1",
        "1",
        "realtime:x",
        "phx_reply",
        {"status": "ok", "response": {"postgres_changes": []}},
    ]


def test_v1_objects_both_ways() -> None:
    """realtime-py's objects decode (join_ref optional); the server's carry no join_ref, as Phoenix's V1 does."""
    beat = phoenix.decode_text('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"5"}', Vsn.V1)
    assert beat == Message("phoenix", "heartbeat", {}, "5", None)
    assert json.loads(phoenix.encode(phoenix.reply(beat, "ok"), Vsn.V1)) == {
        "topic": "phoenix",
        "event": "phx_reply",
        "payload": {"status": "ok", "response": {}},
        "ref": "5",
    }


@pytest.mark.parametrize(
    ("text", "vsn"),
    [
        ("{not json", Vsn.V2),
        ('{"topic":"x","event":"y","payload":{}}', Vsn.V2),  # an object where V2 sends arrays
        ('["1","1","x","y"]', Vsn.V2),  # too short
        ('["1","1","x","y",[1]]', Vsn.V2),  # payload not an object
        ('["1","1","x","y",{}]', Vsn.V1),  # an array where V1 sends objects
        ('{"topic":1,"event":"y","payload":{}}', Vsn.V1),
        ('{"topic":"x","event":"y","payload":{},"ref":true}', Vsn.V1),
    ],
)
def test_bad_text_frames(text: str, vsn: Vsn) -> None:
    with pytest.raises(ProtocolError):
        phoenix.decode_text(text, vsn)


def test_binary_broadcast_push_as_supabase_js_frames_it() -> None:
    """A kind-3 frame (JSON or raw payload) decodes to a broadcast message like the JSON one."""
    message = Message("realtime:room", "broadcast", {"event": "cursör"}, "7", "3")
    frame = phoenix.encode_user_broadcast_push(message, user_payload=b'{"x":1}', json_payload=True, meta={"a": 1})
    decoded = phoenix.decode_binary(frame)
    assert decoded == Message(
        "realtime:room",
        "broadcast",
        {"type": "broadcast", "event": "cursör", "payload": {"x": 1}, "meta": {"a": 1}},
        "7",
        "3",
    )
    raw = phoenix.encode_user_broadcast_push(message, user_payload=b"\x00\xff", json_payload=False)
    assert phoenix.decode_binary(raw).payload["payload"] == b"\x00\xff"


@pytest.mark.parametrize(
    "frame",
    [b"", b"\x04\x00\x00\x00\x00\x00\x00", b"\x03\x00\x00\x09\x00\x00\x01abc", b"\x03\x00\x00\x00\x00\x00\x01{"],
)
def test_bad_binary_frames(frame: bytes) -> None:
    """The wrong kind, a header longer than the frame, or a JSON payload that is not JSON."""
    with pytest.raises(ProtocolError):
        phoenix.decode_binary(frame)


def test_user_broadcast_for_v2_clients() -> None:
    """The kind-4 frame realtime-js decodes: kind, sizes, encoding, topic, event, payload."""
    frame = phoenix.encode_user_broadcast("realtime:r", "e", b"\x01\x02", json_payload=False)
    assert frame == bytes([4, 10, 1, 0, 0]) + b"realtime:r" + b"e" + b"\x01\x02"
    with pytest.raises(ProtocolError):
        phoenix.encode_user_broadcast("realtime:" + "x" * 300, "e", b"", json_payload=True)


# -- bindings ----------------------------------------------------------------------------------------


def test_binding_echo_and_stable_ids() -> None:
    """The join reply echoes what the client sent plus a non-zero id that is the same for the same binding."""
    params = {"event": "INSERT", "schema": "public", "table": "tasks", "filter": "user_id=eq.u1"}
    one, two = parse_binding(params), parse_binding(dict(reversed(params.items())))
    assert one.echo() == {**params, "id": one.id} and one.id == two.id != 0
    assert parse_binding({**params, "event": "DELETE"}).id != one.id


@pytest.mark.parametrize(
    "params",
    [
        {"event": "TRUNCATE", "table": "tasks"},
        {"event": "*", "table": "users"},
        {"event": "*", "schema": "auth", "table": "tasks"},
        {"event": "*", "table": "tasks", "filter": "user_id=zz.1"},
        {"event": "*", "table": "tasks", "filter": "undefined"},
        {"event": "*", "table": "tasks", "filter": "done=is.maybe"},
        "not a binding",
    ],
)
def test_bindings_realtime_refuses(params: Any) -> None:
    with pytest.raises(BindingError):
        parse_binding(params)


@pytest.mark.parametrize(
    ("text", "row", "holds"),
    [
        ("user_id=eq.u1", {"user_id": "u1"}, True),
        ("user_id=eq.u1", {"user_id": "u2"}, False),
        ("user_id=neq.u1", {"user_id": "u2"}, True),
        ("user_id=not.eq.u1", {"user_id": "u1"}, False),
        ("n=gt.2", {"n": 3}, True),
        ("n=gt.2", {"n": 10}, True),  # numbers compare as numbers, not text
        ("n=lte.2", {"n": 2}, True),
        ("n=lt.2", {"n": None}, False),
        ("status=in.(pending,completed)", {"status": "completed"}, True),
        ("status=in.(pending,completed)", {"status": "in_progress"}, False),
        ("done=is.true", {"done": True}, True),
        ("due_at=is.null", {"due_at": None}, True),
        ("description=like.buy%", {"description": "buy milk"}, True),
        ("description=ilike.*MILK", {"description": "buy milk"}, True),
        ("description=like.buy%", {"description": "sell milk"}, False),
        ("status=in.(pending,completed),user_id=eq.u1", {"status": "pending", "user_id": "u1"}, True),
        ("status=in.(pending,completed),user_id=eq.u1", {"status": "pending", "user_id": "u2"}, False),
        ("missing=eq.1", {"other": 1}, False),
    ],
)
def test_filters(text: str, row: dict[str, Any], holds: bool) -> None:
    assert all(condition.holds(row) for condition in parse_filter(text)) is holds


def test_a_delete_passes_filters_on_columns_it_lacks() -> None:
    """A DELETE carries only the key, so a filter on another column cannot hold it back (as on Supabase)."""
    binding = parse_binding({"event": "*", "table": "tasks", "filter": "user_id=eq.u1"})
    assert binding.matches("DELETE", None, {"id": "t1"})
    assert not binding.matches("INSERT", {"id": "t1", "user_id": "u2"}, None)
    by_id = parse_binding({"event": "DELETE", "table": "tasks", "filter": "id=eq.t2"})
    assert not by_id.matches("DELETE", None, {"id": "t1"})
    assert not by_id.wants("tasks", "INSERT") and by_id.wants("tasks", "DELETE")


# -- presence ----------------------------------------------------------------------------------------


def test_presence_state_and_diffs() -> None:
    """Entries group by key in Phoenix's shape; a diff lists only what changed, and a process's entries go
    together when it does."""
    book = TopicPresence()
    diff = book.apply([Entry("r1", "ada", {"at": 1}, "n1"), Entry("r2", "ada", {"at": 2}, "n2")], [])
    assert diff.payload() == {
        "joins": {"ada": {"metas": [{"at": 1, "phx_ref": "r1"}, {"at": 2, "phx_ref": "r2"}]}},
        "leaves": {},
    }
    assert not book.apply([Entry("r1", "ada", {"at": 1}, "n1")], ["unknown"]), "nothing new: no diff"
    assert book.state() == diff.payload()["joins"]
    gone = book.drop_node("n2")
    assert gone.payload() == {"joins": {}, "leaves": {"ada": {"metas": [{"at": 2, "phx_ref": "r2"}]}}}
    assert book.state() == {"ada": {"metas": [{"at": 1, "phx_ref": "r1"}]}}
