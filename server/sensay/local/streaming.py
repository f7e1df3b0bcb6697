"""The local replica's answer to one chat completion: JSON, or streamed word by word in a chosen style."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import msgspec
from starlette.types import Receive, Scope, Send

StreamStyle = Literal["data", "sse", "json"]
"""How a streamed answer is framed: Vercel AI SDK data-stream parts, SSE UI-message events, or plain JSON."""


class Pacing(Protocol):
    """The knobs and counters of the replica an answer is sent for."""

    latency: float
    word_delay: float
    held: tuple[int, asyncio.Event] | None
    inflight_chats: int
    max_inflight_chats: int


@dataclass
class _Framing:
    content_type: bytes
    marker: tuple[bytes, bytes]
    opening: bytes
    closing: bytes


class ChatAnswer:
    """The ASGI response of one chat completion; ``on_finish`` runs once the whole answer was sent."""

    def __init__(
        self,
        replica: Pacing,
        answer: str,
        style: StreamStyle,
        cut_after: int | None,
        on_finish: Callable[[], None],
    ) -> None:
        self._replica = replica
        self._answer = answer
        self._style = style
        self._cut_after = cut_after
        self._on_finish = on_finish

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        replica = self._replica
        replica.inflight_chats += 1
        replica.max_inflight_chats = max(replica.max_inflight_chats, replica.inflight_chats)
        try:
            if replica.latency > 0:
                await asyncio.sleep(replica.latency)
            if self._style == "json":
                complete = await self._send_json(send)
            else:
                complete = await self._send_stream(send)
            if complete:
                self._on_finish()
        finally:
            replica.inflight_chats -= 1

    async def _send_json(self, send: Send) -> bool:
        body = msgspec.json.encode({"success": True, "content": self._answer})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if self._cut_after is not None:
            # Returning before the declared length is sent makes the server drop the connection.
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            return False
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return True

    async def _send_stream(self, send: Send) -> bool:
        words = re.findall(r"\S+\s*", self._answer)
        framing = self._framing(len(words))
        headers = [(b"content-type", framing.content_type), (b"cache-control", b"no-cache"), framing.marker]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": framing.opening, "more_body": True})
        for index, word in enumerate(words):
            if self._cut_after is not None and index >= self._cut_after:
                return False
            if index and self._replica.word_delay > 0:
                await asyncio.sleep(self._replica.word_delay)
            if self._replica.held is not None and index == self._replica.held[0]:
                await self._replica.held[1].wait()
            if self._style == "sse":
                chunk = _sse({"type": "text-delta", "id": "t0", "delta": word})
            else:
                chunk = b"0:" + msgspec.json.encode(word) + b"\n"
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": framing.closing, "more_body": False})
        return True

    def _framing(self, words: int) -> _Framing:
        message_id = f"msg-local{uuid.uuid4().hex[:12]}"
        if self._style == "sse":
            return _Framing(
                b"text/event-stream",
                (b"x-vercel-ai-ui-message-stream", b"v1"),
                _sse({"type": "start", "messageId": message_id}) + _sse({"type": "text-start", "id": "t0"}),
                _sse({"type": "text-end", "id": "t0"}) + _sse({"type": "finish"}) + b"data: [DONE]\n\n",
            )
        usage = {"promptTokens": 1, "completionTokens": words}
        return _Framing(
            b"text/plain; charset=utf-8",
            (b"x-vercel-ai-data-stream", b"v1"),
            b"f:" + msgspec.json.encode({"messageId": message_id}) + b"\n",
            (b"e:" + msgspec.json.encode({"finishReason": "stop", "usage": usage, "isContinued": False}) + b"\n")
            + (b"d:" + msgspec.json.encode({"finishReason": "stop", "usage": usage}) + b"\n"),
        )


def _sse(event: dict[str, Any]) -> bytes:
    return b"data: " + msgspec.json.encode(event) + b"\n\n"
