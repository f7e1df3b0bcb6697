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
