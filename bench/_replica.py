"""The local replica (``server.sensay.local``) in a process of its own, so that its CPU is not charged to the hub.

Run as ``python -m bench._replica --port N`` with the organization secret in ``BENCH_REPLICA_SECRET``; it prints
``listening`` when ready and serves until terminated. A hub reaches it with ``SENSAY_API_URL=http://127.0.0.1:N``
and ``SENSAY_API_KEY=<the secret>``. Answers are immediate (no delay between streamed words) unless
``--latency`` holds each chat request that many seconds first and ``--word-delay`` paces the streamed words: the
benchmarks that measure stored messages use a replica that does not answer while they measure, so that replica
turns do not mix with their load; the fan-out benchmark's rooms have a replica that answers at a person's pace.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from bench._common import run
from server.sensay.local import create_local_replica, serve_local_replica


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each chat answer (default 0)")
    parser.add_argument("--word-delay", type=float, default=0.0, help="seconds between streamed words (default 0)")
    args = parser.parse_args()
    secret = os.environ["BENCH_REPLICA_SECRET"]
    replica = create_local_replica(organization_secret=secret, latency=args.latency, word_delay=args.word_delay)
    async with serve_local_replica(replica, port=args.port):
        sys.stdout.write("listening\n")
        sys.stdout.flush()
        await asyncio.Future()


if __name__ == "__main__":
    run(main())
