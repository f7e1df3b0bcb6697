"""The baseline: a bare ``websockets`` server speaking just enough of our protocol for the benchmark client.

Each socket must send one text frame first (our ``auth`` frame; it is parsed as JSON and not checked) and
gets a ``hello`` frame back; the socket then joins ``CONNECTIONS`` until it closes. Fan-out is
``websockets.broadcast(CONNECTIONS, message)``.

Run alone (``python -m bench._bare --port N``) it serves until killed and prints ``listening`` when ready,
for the idle-memory benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid

from websockets.asyncio.server import ServerConnection, serve

from bench._common import raise_nofile

CONNECTIONS: set[ServerConnection] = set()


async def handler(ws: ServerConnection) -> None:
    try:
        first = await asyncio.wait_for(ws.recv(), 5)
    except Exception:  # timeout or the peer went away
        return
    json.loads(first)
    await ws.send(json.dumps({"type": "hello", "protocol": 1, "connection_id": uuid.uuid4().hex}))
    CONNECTIONS.add(ws)
    try:
        await ws.wait_closed()
    finally:
        CONNECTIONS.discard(ws)


def bare_server(port: int = 0, **options: object) -> serve:
    """An unstarted ``serve(...)`` on 127.0.0.1 (use ``async with``); ``options`` go to ``serve``."""
    return serve(handler, "127.0.0.1", port, **options)  # type: ignore[arg-type]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_nofile()
    async with bare_server(args.port, max_size=64 * 1024, backlog=2048):
        sys.stdout.write("listening\n")
        sys.stdout.flush()
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
