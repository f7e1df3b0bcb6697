import json
from typing import get_args

import msgspec
import pytest

import protocol
from protocol import (
    CLIENT_FRAME_TYPES,
    RETRYABLE,
    SERVER_FRAME_TYPES,
    AckFrame,
    ChatSendFrame,
    ClientFrame,
    CloseCode,
    ErrorCode,
    ErrorFrame,
    FrameError,
    HelloFrame,
    MessageFrame,
    ServerFrame,
    StoredMessage,
    chat_stream,
    decode_client_frame,
    decode_server_frame,
    encode,
    encode_text,
    parse_stream,
    parse_subprotocols,
    room_stream,
)

from .samples import CLIENT_SAMPLES, ROOM, SERVER_SAMPLES


def test_constants() -> None:
    assert protocol.PROTOCOL_VERSION == 2
    assert protocol.SUBPROTOCOL == "sensay-hub.v2"
    assert protocol.TOKEN_SUBPROTOCOL_PREFIX == "access_token."


def test_frame_type_tags() -> None:
    assert set(CLIENT_FRAME_TYPES) == {
        "auth",
        "ping",
        "chat.send",
        "resume",
        "room.join",
        "room.leave",
        "room.send",
        "room.typing",
        "room.stop",
    }
    assert set(SERVER_FRAME_TYPES) == {
        "hello",
        "pong",
        "ack",
        "message",
        "reply.delta",
        "reply.started",
        "notice",
        "resumed",
        "error",
        "change",
        "resync",
        "room.presence",
        "room.joined",
        "room.left",
        "room.typing",
        "room.turns",
        "room.phase",
        "room.vote",
        "room.verdict",
        "room.mode",
        "prototype.event",
        "notification",
    }
    assert set(CLIENT_FRAME_TYPES.values()) == set(get_args(ClientFrame))
    assert set(SERVER_FRAME_TYPES.values()) == set(get_args(ServerFrame))


def test_samples_cover_every_frame_type() -> None:
    assert {type(frame) for frame in CLIENT_SAMPLES} == set(get_args(ClientFrame))
    assert {type(frame) for frame in SERVER_SAMPLES} == set(get_args(ServerFrame))


@pytest.mark.parametrize("frame", CLIENT_SAMPLES, ids=repr)
def test_client_frame_round_trip(frame: ClientFrame) -> None:
    raw = msgspec.json.encode(frame)
    assert json.loads(raw)["type"] == frame.__struct_config__.tag
    assert decode_client_frame(raw) == frame
    assert decode_client_frame(raw.decode()) == frame


@pytest.mark.parametrize("frame", SERVER_SAMPLES, ids=repr)
def test_server_frame_round_trip(frame: ServerFrame) -> None:
    raw = encode(frame)
    assert encode_text(frame) == raw.decode()
    wire = json.loads(raw)
    assert wire["type"] == frame.__struct_config__.tag
    assert None not in _leaf_values(wire), "optional fields must be omitted, not null"
    assert decode_server_frame(raw) == frame


def _leaf_values(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaf_values(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaf_values(item)]
    return [value]


def test_server_frames_omit_defaults() -> None:
    assert json.loads(encode(ErrorFrame(code=ErrorCode.NOT_FOUND, message="gone"))) == {
        "type": "error",
        "code": "not_found",
        "message": "gone",
    }
    assert json.loads(encode(AckFrame(id="m1", stream="chat:r", message_id="x", seq=3))) == {
        "type": "ack",
        "id": "m1",
        "stream": "chat:r",
        "message_id": "x",
        "seq": 3,
    }
    message = StoredMessage(
        id="x",
        stream="chat:r",
        seq=2,
        sender="replica",
        content="hi",
        created_at="2025-01-01T00:00:00Z",
        replica_id="r",
    )
    assert json.loads(encode(MessageFrame(message=message))) == {
        "type": "message",
        "message": {
            "id": "x",
            "stream": "chat:r",
            "seq": 2,
            "sender": "replica",
            "content": "hi",
            "created_at": "2025-01-01T00:00:00Z",
            "replica_id": "r",
        },
    }


def test_hello_wire_format() -> None:
    hello = HelloFrame(
        protocol=protocol.PROTOCOL_VERSION,
        connection_id="c",
        user_id="u",
        heartbeat_interval=15.0,
        max_frame_bytes=65536,
    )
    assert json.loads(encode_text(hello)) == {
        "type": "hello",
        "protocol": 2,
        "connection_id": "c",
        "user_id": "u",
        "heartbeat_interval": 15.0,
        "max_frame_bytes": 65536,
    }


def test_frames_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        ErrorFrame(ErrorCode.NOT_FOUND, "gone")  # type: ignore[misc]
    with pytest.raises(TypeError):
        ChatSendFrame("m1", "r", "hi")  # type: ignore[misc]


def test_error_codes() -> None:
    for code in ErrorCode:
        assert code.value == code.name.lower()
        assert code.description
    assert RETRYABLE == {
        ErrorCode.RATE_LIMITED,
        ErrorCode.REPLICA_UNAVAILABLE,
        ErrorCode.INTERNAL_ERROR,
        ErrorCode.AUTH_UNAVAILABLE,
        ErrorCode.NOT_READY,
        ErrorCode.REPLY_DELAYED,
    }
    assert ErrorCode("replica_unavailable") is ErrorCode.REPLICA_UNAVAILABLE
    assert ErrorCode.REPLICA_REJECTED not in RETRYABLE


def test_close_codes() -> None:
    assert {code.name: code.value for code in CloseCode} == {
        "NORMAL": 1000,
        "GOING_AWAY": 1001,
        "INVALID_DATA": 1007,
        "MESSAGE_TOO_BIG": 1009,
        "INTERNAL_ERROR": 1011,
        "SERVICE_RESTART": 1012,
        "PROTOCOL_ERROR": 4000,
        "AUTH_FAILED": 4001,
        "AUTH_TIMEOUT": 4002,
        "SESSION_REVOKED": 4003,
        "SLOW_CONSUMER": 4008,
        "RATE_LIMITED": 4009,
        "TOO_MANY_CONNECTIONS": 4010,
        "DISCONNECTED": 4011,
    }
    assert all(code.description for code in CloseCode)
    assert not CloseCode.AUTH_FAILED.reconnect
    assert CloseCode.SLOW_CONSUMER.reconnect


def test_frame_error_to_frame() -> None:
    frame = FrameError(ErrorCode.INVALID_FRAME, "bad", "f1").to_frame()
    assert frame == ErrorFrame(code=ErrorCode.INVALID_FRAME, message="bad", id="f1")
    assert FrameError(ErrorCode.RATE_LIMITED, "slow down").to_frame().retryable


def test_streams() -> None:
    assert chat_stream("r1") == "chat:r1"
    assert room_stream(ROOM) == f"room:{ROOM}"
    assert parse_stream("chat:r1") == ("chat", "r1")
    assert parse_stream(f"room:{ROOM}") == ("room", ROOM)
    for bad in ["chat:", "room:not-a-uuid", f"room:{ROOM.upper()}", f"room:{ROOM}\n", "dm:x", "chat:" + "x" * 129]:
        with pytest.raises(ValueError):
            parse_stream(bad)


def test_parse_subprotocols() -> None:
    assert parse_subprotocols(["sensay-hub.v2", "access_token.a.b.c"]) == ("sensay-hub.v2", "a.b.c")
    assert parse_subprotocols([" sensay-hub.v2 "]) == ("sensay-hub.v2", None)
    assert parse_subprotocols(["sensay-hub.v1"]) == (None, None)  # version 1 is not spoken any more
    assert parse_subprotocols(["access_token.tok"]) == (None, "tok")
    assert parse_subprotocols(["other", "access_token."]) == (None, None)
    assert parse_subprotocols([]) == (None, None)
