import json
from dataclasses import dataclass

import pytest

from protocol import MAX_RESUME_STREAMS, ErrorCode, FrameError, decode_client_frame, peek_frame_id

from .samples import ROOM


@dataclass(frozen=True)
class Bad:
    name: str
    data: str | bytes
    code: ErrorCode
    frame_id: str | None = None
    mentions: str = ""


def _frame(**fields: object) -> str:
    return json.dumps(fields)


_DEEP = "[" * 50_000 + "]" * 50_000

BAD_FRAMES = [
    Bad("not json", '{"type": "ping",', ErrorCode.INVALID_JSON),
    Bad("empty", "", ErrorCode.INVALID_JSON),
    Bad("not utf-8", b'{"type": "auth", "token": "\xff"}', ErrorCode.INVALID_JSON),
    Bad("json array", '[{"type": "ping"}]', ErrorCode.INVALID_JSON),
    Bad("json string", '"ping"', ErrorCode.INVALID_JSON),
    Bad("json null", "null", ErrorCode.INVALID_JSON),
    Bad("trailing garbage", '{"type": "ping", "id": "p1"} x', ErrorCode.INVALID_JSON),
    Bad("garbage after a schema violation", '{"type": "nope", "id": "p1"} x', ErrorCode.INVALID_JSON),
    Bad("too deep", '{"type": "ping", "id": "p1", "x": ' + _DEEP + "}", ErrorCode.INVALID_JSON),
    Bad("too deep before type", '{"x": ' + _DEEP + ', "type": "ping"}', ErrorCode.INVALID_JSON),
    Bad("unknown type", _frame(type="chat.delete", id="f1"), ErrorCode.UNKNOWN_TYPE, "f1", "chat.delete"),
    Bad("server type", _frame(type="hello", id="f2"), ErrorCode.UNKNOWN_TYPE, "f2"),
    Bad("missing type", _frame(id="f3", token="t"), ErrorCode.UNKNOWN_TYPE, "f3", "type"),
    Bad("null type", _frame(type=None, id="f4"), ErrorCode.UNKNOWN_TYPE, "f4"),
    Bad("non-string type", _frame(type=5, id="f5"), ErrorCode.UNKNOWN_TYPE, "f5"),
    Bad(
        "missing field",
        _frame(type="chat.send", id="m1", replica_id="r1"),
        ErrorCode.INVALID_FRAME,
        "m1",
        "`content`",
    ),
    Bad(
        "missing required id",
        _frame(type="chat.send", replica_id="r1", content="hi"),
        ErrorCode.INVALID_FRAME,
        None,
        "`id`",
    ),
    Bad(
        "wrong type",
        _frame(type="chat.send", id="m2", replica_id="r1", content=5),
        ErrorCode.INVALID_FRAME,
        "m2",
        "Expected `str`, got `int` - at `$.content`",
    ),
    Bad(
        "content too long",
        _frame(type="chat.send", id="m3", replica_id="r1", content="x" * 100_001),
        ErrorCode.INVALID_FRAME,
        "m3",
        "$.content",
    ),
    Bad(
        "empty content",
        _frame(type="room.send", id="m4", room_id=ROOM, content=""),
        ErrorCode.INVALID_FRAME,
        "m4",
        "$.content",
    ),
    Bad(
        "replica id too long",
        _frame(type="chat.send", id="m5", replica_id="r" * 129, content="hi"),
        ErrorCode.INVALID_FRAME,
        "m5",
        "$.replica_id",
    ),
    # An invalid id is never echoed back: it could not correlate with anything the client tracks.
    Bad("id too long", _frame(type="ping", id="p" * 129), ErrorCode.INVALID_FRAME, None, "$.id"),
    Bad("empty id", _frame(type="ping", id=""), ErrorCode.INVALID_FRAME, None, "$.id"),
    Bad("id not a string", _frame(type="ping", id=7), ErrorCode.INVALID_FRAME, None, "$.id"),
    Bad("unknown field", _frame(type="ping", id="p2", extra=1), ErrorCode.INVALID_FRAME, "p2", "`extra`"),
    Bad("missing token", _frame(type="auth", id="a1"), ErrorCode.INVALID_FRAME, "a1", "`token`"),
    Bad("empty token", _frame(type="auth", token=""), ErrorCode.INVALID_FRAME, None, "$.token"),
    Bad(
        "typing not a bool",
        _frame(type="room.typing", id="t1", room_id=ROOM, typing="yes"),
        ErrorCode.INVALID_FRAME,
        "t1",
        "$.typing",
    ),
    Bad(
        "room id not a uuid",
        _frame(type="room.join", id="j1", room_id="lobby"),
        ErrorCode.INVALID_FRAME,
        "j1",
        "room id",
    ),
    Bad(
        "room id not canonical",
        _frame(type="room.join", id="j2", room_id=ROOM.upper()),
        ErrorCode.INVALID_FRAME,
        "j2",
        "$.room_id",
    ),
    Bad(
        "room id with trailing newline",
        _frame(type="room.leave", room_id=ROOM + "\n"),
        ErrorCode.INVALID_FRAME,
        None,
        "$.room_id",
    ),
    Bad(
        "negative seq",
        _frame(type="resume", id="r1", streams={"chat:r1": -1}),
        ErrorCode.INVALID_FRAME,
        "r1",
        "$.streams",
    ),
    Bad(
        "bad stream name",
        _frame(type="resume", id="r2", streams={"dm:someone": 1}),
        ErrorCode.INVALID_FRAME,
        "r2",
        "stream name",
    ),
    Bad(
        "too many streams",
        _frame(type="resume", id="r3", streams={f"chat:r{i}": 1 for i in range(MAX_RESUME_STREAMS + 1)}),
        ErrorCode.INVALID_FRAME,
        "r3",
        "$.streams",
    ),
]


@pytest.mark.parametrize("bad", BAD_FRAMES, ids=lambda bad: bad.name)
def test_bad_frame(bad: Bad) -> None:
    with pytest.raises(FrameError) as caught:
        decode_client_frame(bad.data)
    error = caught.value
    assert error.code == bad.code, error
    assert error.frame_id == bad.frame_id, error
    assert bad.mentions in error.message
    assert str(error) == error.message
    assert len(error.message) <= 300


def test_error_message_is_bounded() -> None:
    with pytest.raises(FrameError) as caught:
        decode_client_frame(_frame(type="ping", id="p1", **{"f" * 10_000: 1}))
    assert caught.value.code is ErrorCode.INVALID_FRAME
    assert caught.value.frame_id == "p1"
    assert len(caught.value.message) <= 300


def test_max_length_content_is_accepted() -> None:
    frame = decode_client_frame(_frame(type="chat.send", id="m" * 128, replica_id="r" * 128, content="é" * 100_000))
    assert len(frame.content) == 100_000  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('{"type": "ping", "id": "p-1"}', "p-1"),
        ('{"type": "chat.send", "id": "c", "content": "anything at all", "unknown": [1, 2]}', "c"),
        ('{"type": "ping"}', None),
        ('{"type": "ping", "id": ""}', None),
        ('{"type": "ping", "id": 7}', None),
        ('{"type": "ping", "id": "' + "x" * 129 + '"}', None),
        ("not json", None),
        ('["id"]', None),
        (b'{"id": "\xff"}', None),
    ],
)
def test_peek_frame_id_finds_a_valid_id_without_decoding_the_frame(data: str | bytes, expected: str | None) -> None:
    """A frame dropped before decoding (flooding) is still answered with its id when it has a valid one."""
    assert peek_frame_id(data) == expected


def test_a_resume_of_the_maximum_number_of_streams_is_accepted() -> None:
    """Exactly MAX_RESUME_STREAMS (32) streams decode; one more is the invalid_frame above."""
    frame = decode_client_frame(_frame(type="resume", id="r", streams={f"chat:r{i}": 1 for i in range(32)}))
    assert MAX_RESUME_STREAMS == 32 and len(frame.streams) == 32  # type: ignore[union-attr]
