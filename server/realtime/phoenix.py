"""Phoenix channel frames as Supabase Realtime reads and writes them: sans-I/O, no sockets, no asyncio.

Two serializer versions, chosen by the socket's ``vsn`` query parameter:

* ``1.0.0``: JSON objects ``{"topic", "event", "payload", "ref", "join_ref"}`` (realtime-py); the server answers
  with ``{"topic", "event", "payload", "ref"}``, as Phoenix's V1 serializer does.
* ``2.0.0``: JSON arrays ``[join_ref, ref, topic, event, payload]`` (supabase-js), plus binary frames for
  broadcasts: a client pushes a "user broadcast push" (kind 3) and receives a "user broadcast" (kind 4), whose
  user payload is JSON (encoding 1) or raw bytes (encoding 0), as Realtime's ``V2Serializer`` frames them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

USER_BROADCAST_PUSH: Final = 3
USER_BROADCAST: Final = 4
BINARY_ENCODING: Final = 0
JSON_ENCODING: Final = 1
MAX_FIELD: Final = 255
"""Binary frames prefix each field with its length in one byte."""


class Vsn(StrEnum):
    V1 = "1.0.0"
    V2 = "2.0.0"


class ProtocolError(ValueError):
    """A frame that is not a Phoenix message of the socket's serializer."""


@dataclass(frozen=True, slots=True)
class Message:
    """One Phoenix message, either way.

    A broadcast pushed as a binary frame has ``payload`` ``{"type": "broadcast", "event": ..., "payload": ...}``
    like its JSON form; ``payload["payload"]`` is ``bytes`` when the client sent raw bytes.
    """

    topic: str
    event: str
    payload: dict[str, Any] = field(default_factory=dict)
    ref: str | None = None
    join_ref: str | None = None


def _ref(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    raise ProtocolError("ref and join_ref must be strings")


def _message(topic: object, event: object, payload: object, ref: object, join_ref: object) -> Message:
    if not isinstance(topic, str) or not isinstance(event, str):
        raise ProtocolError("topic and event must be strings")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise ProtocolError("payload must be an object")
    return Message(topic, event, payload, _ref(ref), _ref(join_ref))


def decode_text(text: str, vsn: Vsn) -> Message:
    """A text frame; :class:`ProtocolError` when it is not one message of ``vsn``."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProtocolError("not JSON") from exc
    if vsn is Vsn.V2:
        if not isinstance(data, list) or len(data) < 5:
            raise ProtocolError("expected V2 array [join_ref, ref, topic, event, payload]")
        join_ref, ref, topic, event, payload = data[:5]
        return _message(topic, event, payload, ref, join_ref)
    if not isinstance(data, dict):
        raise ProtocolError("expected V1 object {topic, event, payload, ref}")
    return _message(data.get("topic"), data.get("event"), data.get("payload"), data.get("ref"), data.get("join_ref"))


def decode_binary(data: bytes) -> Message:
    """A binary frame: only the user broadcast push (kind 3) comes from clients."""
    if len(data) < 7 or data[0] != USER_BROADCAST_PUSH:
        raise ProtocolError("expected a user broadcast push (kind 3)")
    join_ref_size, ref_size, topic_size, event_size, meta_size, encoding = data[1:7]
    offset = 7
    fields: list[bytes] = []
    for size in (join_ref_size, ref_size, topic_size, event_size, meta_size):
        if offset + size > len(data):
            raise ProtocolError("binary frame shorter than its header says")
        fields.append(data[offset : offset + size])
        offset += size
    body = data[offset:]
    try:
        join_ref, ref, topic, event, meta = (f.decode() for f in fields)
        user_payload: Any = body if encoding == BINARY_ENCODING else json.loads(body)
        metadata = json.loads(meta) if meta else {}
    except ValueError as exc:
        raise ProtocolError("binary frame with a field that is not UTF-8 JSON") from exc
    if encoding not in (BINARY_ENCODING, JSON_ENCODING):
        raise ProtocolError("unknown payload encoding")
    payload: dict[str, Any] = {"type": "broadcast", "event": event, "payload": user_payload}
    if metadata:
        payload["meta"] = metadata
    return Message(topic, "broadcast", payload, ref or None, join_ref or None)


def encode(message: Message, vsn: Vsn) -> str:
    """A JSON text frame of ``vsn``."""
    if vsn is Vsn.V2:
        return json.dumps([message.join_ref, message.ref, message.topic, message.event, message.payload])
    return json.dumps({"topic": message.topic, "event": message.event, "payload": message.payload, "ref": message.ref})


def encode_user_broadcast(topic: str, event: str, user_payload: bytes, *, json_payload: bool) -> bytes:
    """A binary user broadcast (kind 4) for V2 clients; :class:`ProtocolError` when a field exceeds 255 bytes."""
    topic_bytes, event_bytes = topic.encode(), event.encode()
    if len(topic_bytes) > MAX_FIELD or len(event_bytes) > MAX_FIELD:
        raise ProtocolError("topic and event must be at most 255 bytes")
    encoding = JSON_ENCODING if json_payload else BINARY_ENCODING
    header = bytes([USER_BROADCAST, len(topic_bytes), len(event_bytes), 0, encoding])
    return header + topic_bytes + event_bytes + user_payload


def encode_user_broadcast_push(
    message: Message, *, user_payload: bytes, json_payload: bool, meta: dict[str, Any] | None = None
) -> bytes:
    """The client's kind-3 frame (what supabase-js sends); used by tests and benchmarks to speak as the client."""
    parts = [
        (message.join_ref or "").encode(),
        (message.ref or "").encode(),
        message.topic.encode(),
        str(message.payload.get("event", "")).encode(),
        json.dumps(meta).encode() if meta else b"",
    ]
    encoding = JSON_ENCODING if json_payload else BINARY_ENCODING
    return bytes([USER_BROADCAST_PUSH, *(len(p) for p in parts), encoding]) + b"".join(parts) + user_payload


def reply(request: Message, status: str, response: dict[str, Any] | None = None) -> Message:
    """The ``phx_reply`` to ``request``."""
    payload = {"status": status, "response": response if response is not None else {}}
    return Message(request.topic, "phx_reply", payload, request.ref, request.join_ref)


def push(topic: str, event: str, payload: dict[str, Any], join_ref: str | None = None) -> Message:
    """A server push (no ``ref``)."""
    return Message(topic, event, payload, None, join_ref)
