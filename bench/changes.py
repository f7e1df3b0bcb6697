"""Change delivery: ``postgres_changes`` on ``/realtime/v1`` (what supabase-js subscribes to) next to the hub's own
``change`` frames on ``/ws``, for the same writes.

One user holds one socket of each kind: a ``/ws`` socket after ``auth`` (its ``change`` frames), and a Realtime
socket (vsn 2.0.0, as supabase-js speaks it) with a channel joined on ``postgres_changes`` of ``tasks``. Both
hear every change from the hub's one change feed; Realtime reads each row back as the subscriber (row-level
security) before sending it. Two loads, over ``/api/tasks``:

* latency: ``--changes`` task inserts one after another; each is timed from the write's answer to its frame on
  each socket (p50 and p99);
* burst: as many inserts again, 20 in flight; delivered changes/s = changes / seconds from the first write to the
  last frame, on each socket.

Ours is Realtime, the baseline the hub's frames: the ratio is what Supabase's protocol and the per-subscriber
read-back cost on top of the feed both share.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any

import httpx
import websockets

from bench._context import Bench
from bench._report import Figure, ms, num
from bench._services import Service, User

IN_FLIGHT = 20
HUB_SETTINGS: dict[str, object] = {"rest_write_rate": "100000/minute"}
"""The writes are the load here, not something to limit."""
WAIT = 30.0
"""Seconds a load may take in all before the benchmark is called failed."""


class Listener:
    """One socket's arrival time per task description."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Event] = {}

    def heard(self, description: str) -> None:
        self.arrived.setdefault(description, time.perf_counter())
        self.waiters.setdefault(description, asyncio.Event()).set()

    async def wait(self, description: str) -> float:
        await self.waiters.setdefault(description, asyncio.Event()).wait()
        return self.arrived[description]


async def _hub_frames(ws: websockets.ClientConnection, listener: Listener) -> None:
    async for raw in ws:
        frame = json.loads(raw)
        if frame.get("type") == "change" and frame.get("op") == "INSERT" and frame.get("table") == "tasks":
            listener.heard(frame["record"]["description"])


async def _realtime_frames(ws: websockets.ClientConnection, listener: Listener) -> None:
    async for raw in ws:
        if isinstance(raw, bytes):
            continue
        _, _, _, event, payload = json.loads(raw)
        if event == "postgres_changes" and payload["data"]["type"] == "INSERT":
            listener.heard(payload["data"]["record"]["description"])


async def _open_hub(service: Service, user: User) -> websockets.ClientConnection:
    ws = await websockets.connect(service.ws_url(), max_queue=None, open_timeout=WAIT)
    await ws.send(json.dumps({"type": "auth", "token": user.token}))
    while json.loads(await ws.recv()).get("type") != "hello":
        pass
    return ws


async def _open_realtime(service: Service, user: User, anon_key: str) -> websockets.ClientConnection:
    url = service.ws_url(f"/realtime/v1/websocket?apikey={anon_key}&vsn=2.0.0")
    ws = await websockets.connect(url, max_queue=None, open_timeout=WAIT)
    config = {"postgres_changes": [{"event": "*", "schema": "public", "table": "tasks"}]}
    await ws.send(json.dumps(["1", "1", "realtime:bench", "phx_join", {"config": config, "access_token": user.token}]))
    while True:
        _, ref, _, event, payload = json.loads(await ws.recv())
        if event == "phx_reply" and ref == "1":
            if payload["status"] != "ok":
                raise RuntimeError(f"realtime join refused: {payload}")
        if event == "system" and payload.get("extension") == "postgres_changes":
            return ws


async def _write(http: httpx.AsyncClient, description: str) -> float:
    response = await http.post("/api/tasks", json={"description": description})
    response.raise_for_status()
    return time.perf_counter()


async def measure(bench: Bench, service: Service, user: User, anon_key: str, count: int) -> dict[str, Any]:
    hub_heard, realtime_heard = Listener(), Listener()
    hub_ws, realtime_ws = await _open_hub(service, user), await _open_realtime(service, user, anon_key)
    readers = [
        asyncio.create_task(_hub_frames(hub_ws, hub_heard)),
        asyncio.create_task(_realtime_frames(realtime_ws, realtime_heard)),
    ]
    nonce = bench.nonce()
    headers = {"Authorization": f"Bearer {user.token}"}
    try:
        async with httpx.AsyncClient(base_url=service.http_url, headers=headers, timeout=WAIT) as http:
            latency: dict[str, list[float]] = {"hub": [], "realtime": []}
            async with asyncio.timeout(WAIT):
                for i in range(count):
                    description = f"latency {nonce} {i}"
                    written = await _write(http, description)
                    latency["hub"].append(await hub_heard.wait(description) - written)
                    latency["realtime"].append(await realtime_heard.wait(description) - written)

            gate = asyncio.Semaphore(IN_FLIGHT)

            async def one(description: str) -> None:
                async with gate:
                    await _write(http, description)

            burst = [f"burst {nonce} {i}" for i in range(count)]
            async with asyncio.timeout(WAIT):
                began = time.perf_counter()
                await asyncio.gather(*(one(d) for d in burst))
                hub_last = max([await hub_heard.wait(d) for d in burst])
                realtime_last = max([await realtime_heard.wait(d) for d in burst])
    finally:
        for task in readers:
            task.cancel()
        await hub_ws.close()
        await realtime_ws.close()
    return {
        "latency": latency,
        "rate": {"hub": count / (hub_last - began), "realtime": count / (realtime_last - began)},
    }


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(bench: Bench) -> None:
    count = bench.args.changes
    print(f"change delivery: {count:,} inserts one at a time, then {count:,} with {IN_FLIGHT} in flight")
    p50 = bench.add(Figure("changes: postgres_changes p50 latency", "hub change frames", ms))
    p99 = bench.add(Figure("changes: postgres_changes p99 latency", "hub change frames", ms))
    rate = bench.add(Figure("changes: postgres_changes delivered/s", "hub change frames", num))
    for _ in range(bench.runs(3)):
        async with bench.hub(settings=HUB_SETTINGS) as service:
            (user,) = await bench.ensure_users(service, 1)
            anon_key = (bench.data_dir / "anon-key").read_text().strip()
            report = await measure(bench, service, user, anon_key, count)
        hub, realtime = report["latency"]["hub"], report["latency"]["realtime"]
        print(
            f"  latency p50/p99: realtime {ms(statistics.median(realtime))} / {ms(_p(realtime, 0.99))},"
            f" hub {ms(statistics.median(hub))} / {ms(_p(hub, 0.99))};"
            f" burst: realtime {num(report['rate']['realtime'])}/s, hub {num(report['rate']['hub'])}/s",
            flush=True,
        )
        p50.add(statistics.median(realtime), statistics.median(hub))
        p99.add(_p(realtime, 0.99), _p(hub, 0.99))
        rate.add(report["rate"]["realtime"], report["rate"]["hub"])
