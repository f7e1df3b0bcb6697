"""Decoding client frames and encoding server frames (JSON text)."""

import re
from typing import Any, Final

import msgspec

from .client_frames import CLIENT_FRAME_TYPES, ClientFrame
from .codes import ErrorCode
from .constants import MAX_ID_LENGTH
from .server_frames import ErrorFrame, ServerFrame
from .streams import ROOM_ID_PATTERN, STREAM_NAME_PATTERN


class FrameError(ValueError):
    """A client frame could not be decoded; answer it with ``to_frame()``."""

    def __init__(self, code: ErrorCode, message: str, frame_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.frame_id = frame_id

    def __repr__(self) -> str:
        return f"FrameError({self.code!r}, {self.message!r}, frame_id={self.frame_id!r})"

    def to_frame(self) -> ErrorFrame:
        """The ``error`` frame to send back."""
        return ErrorFrame(code=self.code, message=self.message, id=self.frame_id, retryable=self.code.retryable)


class _Envelope(msgspec.Struct):
    type: Any = None
    id: Any = None


_decoder: Final = msgspec.json.Decoder(ClientFrame)
_envelope_decoder: Final = msgspec.json.Decoder(_Envelope)
_server_decoder: Final = msgspec.json.Decoder(ServerFrame)
_encoder: Final = msgspec.json.Encoder()

_TOO_DEEP: Final = "JSON is nested too deeply"
_BAD_UTF8: Final = "Frame is not valid UTF-8"
# msgspec quotes the raw regex when a pattern does not match; name what was expected instead.
_PATTERN_NAMES: Final = {
    f"`str` matching regex {STREAM_NAME_PATTERN!r}": "a stream name (`chat:<replica_id>` or `room:<room_uuid>`)",
    f"`str` matching regex {ROOM_ID_PATTERN!r}": "a room id (lowercase hyphenated UUID)",
}
_MAX_MESSAGE_LENGTH: Final = 300  # error messages may quote client-controlled text (unknown field names)
# ``\u0000`` escaped in JSON (an odd run of backslashes before ``u0000``; an even run is a literal backslash).
_NUL_ESCAPE: Final = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
_NUL_ESCAPE_BYTES: Final = re.compile(_NUL_ESCAPE.pattern.encode())
NUL_MESSAGE: Final = "strings may not contain NUL (\\u0000)"


def has_nul(json_text: str | bytes) -> bool:
    """Whether a JSON document holds a string with a NUL character, which PostgreSQL text cannot store.

    Raw NUL bytes are already invalid JSON; this finds the escaped form, reading the text only when it
    contains ``u0000`` at all.
    """
    if isinstance(json_text, str):
        return "u0000" in json_text and _NUL_ESCAPE.search(json_text) is not None
    return b"u0000" in json_text and _NUL_ESCAPE_BYTES.search(json_text) is not None


def decode_client_frame(data: str | bytes) -> ClientFrame:
    """Decode and validate one client text frame; raise ``FrameError`` if it is not a valid client frame.

    The error carries the frame's ``id`` whenever that id itself is valid, so the client can correlate it.
    """
    try:
        frame = _decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise _classify(data, exc) from None
    except msgspec.DecodeError as exc:
        raise FrameError(ErrorCode.INVALID_JSON, str(exc)) from None
    except RecursionError:
        raise FrameError(ErrorCode.INVALID_JSON, _TOO_DEEP) from None
    except UnicodeDecodeError:
        raise FrameError(ErrorCode.INVALID_JSON, _BAD_UTF8) from None
    if has_nul(data):
        tag = type(frame).__struct_config__.tag
        frame_id = frame.id if frame.id is not None and "\x00" not in frame.id else None
        raise FrameError(ErrorCode.INVALID_FRAME, f"Invalid `{tag}` frame: {NUL_MESSAGE}", frame_id)
    return frame


def _classify(data: str | bytes, exc: msgspec.ValidationError) -> FrameError:
    """Turn a schema violation into the right error, re-reading the frame loosely for its ``type`` and ``id``."""
    try:
        envelope = _envelope_decoder.decode(data)
    except msgspec.ValidationError:
        return FrameError(ErrorCode.INVALID_JSON, "Frame must be a JSON object")
    except msgspec.DecodeError as loose_exc:
        # The strict decoder stops at the first schema violation, before reaching a later syntax error.
        return FrameError(ErrorCode.INVALID_JSON, str(loose_exc))
    except RecursionError:
        return FrameError(ErrorCode.INVALID_JSON, _TOO_DEEP)
    except UnicodeDecodeError:
        return FrameError(ErrorCode.INVALID_JSON, _BAD_UTF8)
    frame_id = _valid_id(envelope.id)
    if envelope.type is None:
        return FrameError(ErrorCode.UNKNOWN_TYPE, "Frame has no `type` field", frame_id)
    if not isinstance(envelope.type, str) or envelope.type not in CLIENT_FRAME_TYPES:
        return FrameError(ErrorCode.UNKNOWN_TYPE, _truncate(f"Unknown frame type {envelope.type!r}"), frame_id)
    detail = str(exc)
    for raw, name in _PATTERN_NAMES.items():
        detail = detail.replace(raw, name)
    return FrameError(ErrorCode.INVALID_FRAME, _truncate(f"Invalid `{envelope.type}` frame: {detail}"), frame_id)


def _valid_id(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH else None


def peek_frame_id(data: str | bytes) -> str | None:
    """The valid ``id`` of a frame refused without being decoded (e.g. one dropped for flooding), else ``None``."""
    try:
        return _valid_id(_envelope_decoder.decode(data).id)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return None


def _truncate(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE_LENGTH else text[: _MAX_MESSAGE_LENGTH - 3] + "..."


def encode(frame: ServerFrame) -> bytes:
    """Encode a server frame as UTF-8 JSON."""
    return _encoder.encode(frame)


def encode_text(frame: ServerFrame) -> str:
    """Encode a server frame as a JSON string, for WebSocket text frames."""
    return _encoder.encode(frame).decode()


def decode_server_frame(data: str | bytes) -> ServerFrame:
    """Decode a server frame (for clients, tests and tools); raise ``msgspec.DecodeError`` if invalid."""
    return _server_decoder.decode(data)
