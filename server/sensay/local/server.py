"""Serving the local replica with uvicorn: embedded in the host's event loop, or as a process of its own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

KEEP_ALIVE_SECONDS = 75
"""Longer than the hub's HTTP client keeps an idle connection (30 s): a connection is never closed by the replica
just as the hub reuses it (uvicorn's default, 5 s, broke requests under load with ``ReadError('')``)."""

_in_replica_server: ContextVar[bool] = ContextVar("in_local_replica_server", default=False)


class _ReplicaServerQuiet(logging.Filter):
    """Drops the embedded server's own start and stop lines, which read like the host's."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or not _in_replica_server.get()


class _HostOwnsLogging(uvicorn.Config):
    def configure_logging(self) -> None:
        """Leave the host's logging alone: uvicorn's own setup would reset the host's access log."""


class _NoAccessLog(HttpToolsProtocol):
    """The replica's requests are the host's own calls: they stay out of the host's access log."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access_log = False


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The host process owns SIGINT/SIGTERM; an embedded server must not take them over.
        yield


def run_process(app: ASGIApp, *, host: str, port: int, log_level: str) -> None:
    """Serve ``app`` as the whole process until SIGINT or SIGTERM."""
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="off",
        ws="none",
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


def _bound_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # An explicit IPPROTO_TCP makes asyncio set TCP_NODELAY on accepted connections (it checks sock.proto);
    # without it every response pays a ~40 ms Nagle/delayed-ACK stall.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


@contextlib.asynccontextmanager
async def serve_local_replica(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on ``host:port`` (0 = ephemeral) in this event loop; yield its base URL.

    On exit, an app with ``release_hangs()`` (a local replica) lets its hanging requests end first.
    """
    sock = _bound_socket(host, port)
    bound_port = sock.getsockname()[1]
    config = _HostOwnsLogging(
        app,
        http=_NoAccessLog,
        lifespan="off",
        ws="none",
        timeout_graceful_shutdown=2,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    server = _EmbeddedServer(config)
    uvicorn_logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _ReplicaServerQuiet) for f in uvicorn_logger.filters):
        uvicorn_logger.addFilter(_ReplicaServerQuiet())

    async def serve_quietly() -> None:
        _in_replica_server.set(True)  # in this task's own context only
        await server.serve(sockets=[sock])

    task = asyncio.create_task(serve_quietly(), name=f"local-replica:{bound_port}")
    try:
        while not server.started:
            if task.done():
                sock.close()
                await task
                raise RuntimeError("the local replica server stopped during start-up")
            await asyncio.sleep(0.005)
        url_host = f"[{host}]" if sock.family == socket.AF_INET6 else host
        yield f"http://{url_host}:{bound_port}"
    finally:
        release_hangs = getattr(app, "release_hangs", None)
        if callable(release_hangs):
            release_hangs()
        server.should_exit = True
        await task
