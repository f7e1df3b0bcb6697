"""Helpers for tests: a real uvicorn server on a free loopback port, and HTTP/WebSocket clients of it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
import websockets
from starlette.types import ASGIApp
from websockets.client import ClientProtocol
from websockets.uri import parse_uri

from server.ws.transport import HubWebSocketProtocol

from .contract import contract_checked

SHUTDOWN_LIMIT = 60.0
"""Seconds a test server may take to shut down (its drain is bounded well below this)."""


@asynccontextmanager
async def run_server(app: ASGIApp, **config: Any) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (lifespan on) and yield its base URL.

    A sensay-hub app is served through :class:`~tests.contract.ContractCheck`: when the server stops, every REST
    answer it gave must have matched the OpenAPI document, or the test fails.
    """
    config.setdefault("log_level", "warning")
    config.setdefault("ws", HubWebSocketProtocol)  # as `serve` runs it
    config.setdefault("proxy_headers", False)  # as `serve` runs it: the app reads forwarding headers itself
    checker = contract_checked(app)
    server = uvicorn.Server(uvicorn.Config(checker or app, host="127.0.0.1", port=0, **config))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # startup failed: raise its error
            raise RuntimeError("server stopped during startup")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        try:
            async with asyncio.timeout(SHUTDOWN_LIMIT):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        except TimeoutError:
            # A hung shutdown is a defect of the server: say where every task is stuck, then fail the test.
            for pending in asyncio.all_tasks():
                pending.print_stack(limit=12, file=sys.stderr)
            raise AssertionError(f"the server did not shut down within {SHUTDOWN_LIMIT} s") from None
    if checker is not None:
        checker.assert_clean()


class WsClient:
    """A test-side WebSocket client that reads JSON frames."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def recv_until(self, type_: str, timeout: float = 5.0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Read frames until one of ``type_``; return it and the frames before it."""
        seen: list[dict[str, Any]] = []
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.recv(timeout)
                if frame["type"] == type_:
                    return frame, seen
                seen.append(frame)

    async def nothing_within(self, seconds: float) -> list[dict[str, Any]]:
        """Frames that arrive within ``seconds`` (an empty list is the expected answer)."""
        frames = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while True:
                    frames.append(json.loads(await self.ws.recv()))
        return frames

    async def close_code(self, timeout: float = 5.0) -> int | None:
        """Wait for the server to close the socket; return the close code."""
        with contextlib.suppress(websockets.ConnectionClosed):
            async with asyncio.timeout(timeout):
                while True:
                    await self.ws.recv()
        return self.ws.close_code


def ws_url(base_url: str, path: str = "/ws") -> str:
    return base_url.replace("http://", "ws://") + path


@asynccontextmanager
async def connect(base_url: str, token: str | None = None, **kwargs: Any) -> AsyncIterator[WsClient]:
    """Open ``/ws``; with ``token``, send the auth frame and consume the ``hello``."""
    # Unbounded: frames a test leaves unread must not stop the client from reading the server's close.
    kwargs.setdefault("max_queue", None)
    async with websockets.connect(ws_url(base_url), open_timeout=5, **kwargs) as ws:
        client = WsClient(ws)
        if token is not None:
            await client.send({"type": "auth", "token": token})
            hello = await client.recv()
            assert hello["type"] == "hello", hello
        yield client


async def signup_and_login(http: httpx.AsyncClient, email: str, password: str = "correct horse battery") -> dict:
    """Create a user and log in; return the login answer (tokens and user)."""
    response = await http.post("/api/auth/signup", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    response = await http.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


async def stalled_socket(base_url: str, token: str, *, rcvbuf: int = 4096) -> socket.socket:
    """A WebSocket client that authenticates and then never reads again: the slowest possible consumer.

    Built on websockets' sans-I/O protocol over a plain socket with a tiny receive buffer, so neither
    a client library nor the kernel soaks up what the server sends.
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    host, port = base_url.removeprefix("http://").split(":")
    await loop.sock_connect(sock, (host, int(port)))
    protocol = ClientProtocol(parse_uri(ws_url(base_url)))
    protocol.send_request(protocol.connect())
    await loop.sock_sendall(sock, b"".join(protocol.data_to_send()))
    while not protocol.events_received():
        protocol.receive_data(await loop.sock_recv(sock, 65536))
    protocol.send_text(json.dumps({"type": "auth", "token": token}).encode())
    await loop.sock_sendall(sock, b"".join(protocol.data_to_send()))
    return sock


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(base_url: str, **headers: str) -> Samples:
    """GET /metrics and parse it: ``{(sample name, sorted labels): value}``."""
    from prometheus_client.parser import text_string_to_metric_families

    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        response = await http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when it was never observed)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
