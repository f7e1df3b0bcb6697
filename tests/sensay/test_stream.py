"""The stream parser without sockets: bytes in, text deltas out, as websockets tests its protocol."""

from __future__ import annotations

import pytest

from server.sensay.errors import SensayError, SensayUnavailable
from server.sensay.stream import ChatStreamParser


def feed_all(lines: list[str], chunk: int | None = None) -> list[str]:
    """The deltas of a body made of ``lines`` (joined by LF), fed whole or in ``chunk``-byte pieces."""
    data = "\n".join(lines).encode()
    size = chunk or max(len(data), 1)
    parser = ChatStreamParser()
    deltas = [delta for start in range(0, len(data), size) for delta in parser.feed(data[start : start + size])]
    return deltas + parser.close()


def test_parser_reads_data_stream_parts() -> None:
    """Text parts are decoded JSON strings; other parts are ignored; d: finishes."""
    lines = ['f:{"messageId":"m1"}', '0:"Hello "', "2:[1]", '0:"w\\u00f6rld\\n"', '0:""', 'e:{"finishReason":"stop"}']
    assert feed_all([*lines, 'd:{"finishReason":"stop"}', '0:"ignored after finish"']) == ["Hello ", "wörld\n"]


def test_parser_reads_sse_events() -> None:
    """text-delta events (delta, textDelta or text keys) are yielded; comments and other events are ignored."""
    lines = [
        ": keep-alive",
        "event: message",
        'data: {"type":"start"}',
        "",
        'data: {"type":"text-delta","id":"0","delta":"a"}',
        "",
        'data: {"type":"text-delta","textDelta":"b"}\r',
        "\r",
        'data:{"type":"text-delta",',
        'data: "text":"c"}',
        "",
        'data: {"type":"reasoning-delta","delta":"hidden"}',
        "",
        "data: [DONE]",
        "",
    ]
    assert feed_all(lines) == ["a", "b", "c"]


def test_parser_accepts_finish_event_without_done() -> None:
    assert feed_all(['data: {"type":"text-delta","delta":"x"}', "", 'data: {"type":"finish"}']) == ["x"]


@pytest.mark.parametrize(
    "lines",
    [['0:"partial"', '3:"model overloaded"'], ['data: {"type":"error","errorText":"model overloaded"}', ""]],
)
def test_parser_raises_on_error_parts(lines: list[str]) -> None:
    """An error part in either style becomes a SensayError carrying the message."""
    with pytest.raises(SensayError, match="model overloaded"):
        feed_all(lines)


@pytest.mark.parametrize("lines", [['0:"partial"'], ['data: {"type":"text-delta","delta":"partial"}', ""], []])
def test_parser_requires_a_finish_marker(lines: list[str]) -> None:
    """A body that ends without d:, finish or [DONE] is a broken stream."""
    with pytest.raises(SensayUnavailable):
        feed_all(lines)


def test_parser_rejects_a_malformed_text_part() -> None:
    with pytest.raises(SensayError):
        feed_all(["0:not-json"])


SSE_BODY = [
    ": keep-alive",
    'data: {"type":"text-delta","delta":"Grüße "}',
    "",
    'data: {"type":"text-delta",',
    'data: "delta":"a\u2028b"}\r',
    "\r",
    'data: {"type":"finish"}',
    "",
]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, None])
def test_parser_gives_the_same_deltas_however_the_body_is_split(chunk: int | None) -> None:
    """Chunks split anywhere, even inside a UTF-8 character or a CRLF, give the deltas of the whole body."""
    assert feed_all(SSE_BODY, chunk) == ["Grüße ", "a\u2028b"]


def test_parser_splits_on_line_feeds_only() -> None:
    """A U+2028 that JSON leaves unescaped inside a text part does not end the line."""
    body = '0:"one\u2028two"\nd:{}\n'.encode()
    parser = ChatStreamParser()
    assert parser.feed(body) + parser.close() == ["one\u2028two"]


def test_parser_reads_a_last_line_without_its_line_feed() -> None:
    """The body's last line counts even when the body does not end in a line feed."""
    parser = ChatStreamParser()
    assert parser.feed(b'0:"x"\nd:{"finishReason":"stop"}') == ["x"]
    assert parser.close() == [] and parser.finished


def test_parser_keeps_a_partial_line_until_its_end_arrives() -> None:
    """Nothing is returned for a line until its line feed (or the end of the body) arrives."""
    parser = ChatStreamParser()
    assert parser.feed(b'0:"hal') == []
    assert parser.feed(b'f"\n') == ["half"]
