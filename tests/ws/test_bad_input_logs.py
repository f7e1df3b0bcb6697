"""A flood of bad frames is answered and counted, and the log holds: at most one line per socket, no traceback."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import replace

import httpx
import pytest
import websockets

from server.app import create_app
from server.config import Settings
from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica

from ..utils import connect, run_server, sample, scrape, signup_and_login, ws_url

SOCKETS = 20
FRAMES_PER_SOCKET = 50  # 20 x 50 = 1,000 bad frames, each socket within its burst (no rate limit in the way)
BAD_FRAMES = [
    "{not json",
    '{"type": "no.such.frame", "id": "u"}',
    '{"type": "chat.send", "id": "c", "replica_id": 42}',
    f'{{"type": "chat.send", "id": "n", "replica_id": "{ADA_LOVELACE_UUID}", "content": "a\\u0000b"}}',
    "[1, 2, 3]",
    b"\x00binary",
]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def every_log_record() -> Iterator[list[logging.LogRecord]]:
    """Every record at INFO and above, uvicorn's too (its loggers do not propagate to the root)."""
    handler = _Collect()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn"), logging.getLogger("uvicorn.error")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield handler.records
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def _about_bad_input(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return (
        record.exc_info is not None or record.levelno >= logging.WARNING or "bad frame" in message or "UTF-8" in message
    )


@pytest.fixture
async def roomy(settings: Settings, replica: LocalReplica) -> AsyncIterator[str]:
    """A server whose per-user frame rate lets 1,000 frames through at once (the per-socket burst still holds)."""
    app = create_app(replace(settings, ws_user_frame_rate="100000/second"), replica=replica)
    async with run_server(app) as url:
        yield url


async def test_a_thousand_bad_frames_are_answered_counted_and_logged_once_per_socket(roomy: str) -> None:
    """1,000 bad frames over 20 authenticated sockets: each gets its error frame, the metric counts them all, and
    the log has one line per socket at most, at INFO, without a traceback."""
    server = roomy
    async with httpx.AsyncClient(base_url=server) as http:
        alice = await signup_and_login(http, "flood@example.com")
    before = sample(await scrape(server), "sensay_hub_ws_frames_received_total", type="invalid")
    with every_log_record() as records:
        for _ in range(SOCKETS):
            async with connect(server, alice["access_token"]) as tab:
                for n in range(FRAMES_PER_SOCKET):
                    await tab.ws.send(BAD_FRAMES[n % len(BAD_FRAMES)])
                for _ in range(FRAMES_PER_SOCKET):
                    assert (await tab.recv())["type"] == "error"
    after = sample(await scrape(server), "sensay_hub_ws_frames_received_total", type="invalid")
    assert after - before == SOCKETS * FRAMES_PER_SOCKET
    logged = [record for record in records if _about_bad_input(record)]
    assert 1 <= len(logged) <= SOCKETS, [r.getMessage() for r in logged]
    assert all(r.exc_info is None and r.levelno == logging.INFO for r in logged), [r.getMessage() for r in logged]


@pytest.mark.parametrize("authenticated", [False, True])
async def test_invalid_utf8_closes_with_1007_in_one_line_without_a_traceback(
    server: str, alice: dict, authenticated: bool
) -> None:
    """A text frame that is not UTF-8 closes the socket with 1007 (authenticated or not), is counted, and is one
    INFO line: uvicorn logged an ERROR with a traceback for each."""
    before = sample(await scrape(server), "sensay_hub_ws_frames_received_total", type="invalid")
    with every_log_record() as records:
        for _ in range(10):
            async with websockets.connect(ws_url(server), open_timeout=5) as ws:
                if authenticated:
                    await ws.send(f'{{"type": "auth", "token": "{alice["access_token"]}"}}')
                    await ws.recv()  # hello
                await ws.send(b"\xff\xfe not utf-8", text=True)
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
    after = sample(await scrape(server), "sensay_hub_ws_frames_received_total", type="invalid")
    assert after - before == 10
    logged = [record for record in records if _about_bad_input(record)]
    assert len(logged) == 10, [r.getMessage() for r in logged]
    assert all(r.exc_info is None and r.levelno == logging.INFO for r in logged), [r.getMessage() for r in logged]


async def test_a_bad_first_frame_is_counted_and_logged_once(server: str) -> None:
    """An unauthenticated socket whose first frame is not JSON is closed (4001), counted, and logged in one line."""
    before = sample(await scrape(server), "sensay_hub_ws_frames_received_total", type="invalid")
    with every_log_record() as records:
        async with websockets.connect(ws_url(server), open_timeout=5) as ws:
            await ws.send("{not json")
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
    assert sample(await scrape(server), "sensay_hub_ws_frames_received_total", type="invalid") - before == 1
    assert len([record for record in records if _about_bad_input(record)]) == 1
