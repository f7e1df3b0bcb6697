"""`serve` bounds what an unauthenticated client can make it hold: request line and headers (h11's limit)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from .conftest import TEST_JWT_SECRET
from .databases import DatabaseFactory
from .test_cli import serving

MIB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def _send_huge_header(host: str, port: int, size: int) -> bool:
    """Send a request whose one header is ``size`` bytes and never ends; ``True`` when the server refused it
    (answered 4xx, or hung up before taking it all)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: ")
        chunk = b"a" * 65536
        for _ in range(size // len(chunk)):
            writer.write(chunk)
            await writer.drain()
        answer = await asyncio.wait_for(reader.read(4096), 10)
    except ConnectionError:
        return True  # the server closed the connection part-way
    finally:
        writer.close()
    return answer.startswith((b"HTTP/1.1 400", b"HTTP/1.1 431"))


async def test_a_huge_header_is_refused_and_memory_stays_bounded(tmp_path: Path, databases: DatabaseFactory) -> None:
    """A 1 MiB header gets a 4xx and a closed connection; ten 4 MiB ones at once leave the server's memory flat."""
    env = {"DATABASE_URL": await databases.migrated(), "JWT_SECRET": TEST_JWT_SECRET}
    with serving(tmp_path, **env) as server:
        host, port = server.base_url.removeprefix("http://").split(":")
        assert await _send_huge_header(host, int(port), MIB)

        before = rss_bytes(server.process.pid)
        refused = await asyncio.gather(*(_send_huge_header(host, int(port), 4 * MIB) for _ in range(10)))
        grown = rss_bytes(server.process.pid) - before
        assert all(refused)
        assert grown < 16 * MIB, f"the server grew by {grown / MIB:.1f} MiB holding unfinished headers"
        server.stop()


def _head(size: int) -> bytes:
    """A GET /healthz whose request line and headers are exactly ``size`` bytes (one header pads it)."""
    start, end = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: ", b"\r\n\r\n"
    return start + b"a" * (size - len(start) - len(end)) + end


async def _status(host: str, port: int, head: bytes, *, piece: int) -> int:
    """Send ``head`` in pieces of ``piece`` bytes; the status of the answer (0 when the server only hung up)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for at in range(0, len(head), piece):
            writer.write(head[at : at + piece])
            await writer.drain()
        answer = await asyncio.wait_for(reader.read(4096), 10)
    except ConnectionError:
        return 0
    finally:
        writer.close()
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


async def test_headers_are_bounded_exactly_by_http_max_header_bytes(tmp_path: Path, databases: DatabaseFactory) -> None:
    """A request line plus headers of exactly HTTP_MAX_HEADER_BYTES (32 KiB by default) is served; one byte more
    is 431, whether it arrives whole or a piece at a time."""
    env = {"DATABASE_URL": await databases.migrated(), "JWT_SECRET": TEST_JWT_SECRET}
    with serving(tmp_path, **env) as server:
        host, port = server.base_url.removeprefix("http://").split(":")
        bound = 32 * 1024
        for piece in (len(_head(bound + 1)), 1024):
            assert await _status(host, int(port), _head(bound), piece=piece) == 200
            assert await _status(host, int(port), _head(bound + 1), piece=piece) == 431
        assert await _status(host, int(port), _head(100 * 1024), piece=100 * 1024) == 431
        server.stop()
