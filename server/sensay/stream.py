"""A sans-I/O parser of a streamed chat completion: bytes in, the answer's text deltas out.

Understands both Vercel AI SDK styles: data-stream parts (``0:"text"``, ``3:"error"``, ``d:{...}`` finish) and
SSE UI-message events (``data: {"type":"text-delta","delta":"..."}``, ``data: [DONE]``), with SSE's rules for
comments, CRLF line ends and multi-line ``data``. Other parts and events are ignored. It does no I/O: the client
feeds it what it reads, and tests feed it bytes.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

from .errors import SensayError, SensayUnavailable

__all__ = ["ChatStreamParser"]

_DATA_STREAM_PART: Final = re.compile(r"^([0-9a-z]):(.*)$", re.DOTALL)


class ChatStreamParser:
    """Turns the body of a streamed completion into text deltas.

    Raises :class:`SensayError` for an error part or malformed data, and :class:`SensayUnavailable` from
    :meth:`close` when the body ended before its finish marker.
    """

    def __init__(self) -> None:
        self.finished = False
        """Whether the finish marker (``d:``, ``finish``, ``[DONE]``) was seen."""
        self._buffer = b""
        self._data: list[str] = []

    def feed(self, data: bytes) -> list[str]:
        """Consume a chunk of the body (split anywhere); return the text deltas it completes."""
        # Split on "\n" only: str.splitlines also splits on U+2028 and friends, which JSON leaves unescaped.
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        return [delta for line in lines for delta in self._line(line.decode("utf-8", errors="replace"))]

    def close(self) -> list[str]:
        """Signal the end of the body; return the last deltas, or raise if no finish marker was seen."""
        deltas = self._line(self._buffer.decode("utf-8", errors="replace")) if self._buffer else []
        self._buffer = b""
        deltas += self._dispatch_event()
        if not self.finished:
            raise SensayUnavailable("Sensay stream ended before its finish marker", status=200)
        return deltas

    def _line(self, line: str) -> list[str]:
        line = line.removesuffix("\r")
        if self.finished:
            return []
        if not line:
            return self._dispatch_event()
        if line.startswith(":"):
            return []
        field, sep, value = line.partition(":")
        if field == "data" and sep:
            self._data.append(value.removeprefix(" "))
            return []
        if field in ("event", "id", "retry"):
            return []
        match = _DATA_STREAM_PART.match(line)
        return self._data_stream_part(*match.groups()) if match else []

    def _data_stream_part(self, code: str, payload: str) -> list[str]:
        if code == "0":
            text = _json_string(payload, "text part")
            return [text] if text else []
        if code == "3":
            raise SensayError(f"Sensay stream reported an error: {_json_string(payload, 'error part')}", status=200)
        if code == "d":
            self.finished = True
        return []

    def _dispatch_event(self) -> list[str]:
        if not self._data:
            return []
        data = "\n".join(self._data)
        self._data.clear()
        if data == "[DONE]":
            self.finished = True
            return []
        try:
            event = msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise SensayError(f"Sensay stream sent malformed event data: {data[:80]!r}", status=200) from exc
        if not isinstance(event, dict):
            return []
        kind = event.get("type")
        if kind in ("text-delta", "text"):
            for key in ("delta", "textDelta", "text"):
                text = event.get(key)
                if isinstance(text, str):
                    return [text] if text else []
        elif kind == "error":
            message = event.get("errorText") or event.get("error") or "unknown error"
            raise SensayError(f"Sensay stream reported an error: {message}", status=200)
        elif kind == "finish":
            self.finished = True
        return []


def _json_string(payload: str, what: str) -> str:
    try:
        value = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise SensayError(f"Sensay stream sent a malformed {what}: {payload[:80]!r}", status=200) from exc
    if not isinstance(value, str):
        raise SensayError(f"Sensay stream sent a {what} that is not a string", status=200)
    return value
