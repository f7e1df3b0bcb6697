"""Shared pieces of the benchmarks: process limits and CPU placement, /proc readings, statistics, the event loop."""

from __future__ import annotations

import asyncio
import math
import os
import resource
import socket
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypedDict, TypeVar

REPO = Path(__file__).resolve().parent.parent
JWT_SECRET = "bench-secret-" + "x" * 40
MESSAGE_MARK = b'"sender":"user"'
"""Occurs once in every room or chat ``message`` frame a user sent (ours and the baseline's), and nowhere else
in the benchmarks' traffic: the receiving sockets count deliveries by counting it in the raw byte stream."""

_TICKS = os.sysconf("SC_CLK_TCK")
T = TypeVar("T")


def raise_nofile() -> int:
    """Raise this process's open-file limit to the hard limit (children inherit it); return the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from ``/proc/<pid>/status`` (VmRSS, in KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def waited_seconds(pid: int) -> float:
    """Seconds the process's main thread was runnable but waited for a CPU (``/proc/<pid>/schedstat``).

    On a shared machine this is the time other processes took from the one measured.
    """
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds of each named process, and as ``<name>.waited`` its main thread's wait for a CPU.

    A process that is gone reads as NaN.
    """
    readings: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            readings[name] = cpu_seconds(pid)
            readings[f"{name}.waited"] = waited_seconds(pid)
        except (OSError, IndexError, ValueError):
            readings[name] = readings[f"{name}.waited"] = math.nan
    return readings


class Placement:
    """Which CPUs the server under test and everything else run on.

    With two or more CPUs the server gets the first and the load (clients, local replica, helpers) the rest,
    so that the load generator's work is not taken from the server; with one CPU nothing is pinned.
    """

    def __init__(self, cpus: Sequence[int] | None = None) -> None:
        self.cpus = sorted(cpus if cpus is not None else os.sched_getaffinity(0))
        self.pinned = len(self.cpus) >= 2
        self.server = {self.cpus[0]} if self.pinned else set(self.cpus)
        self.load = set(self.cpus[1:]) if self.pinned else set(self.cpus)

    def nth_server(self, index: int) -> set[int]:
        """The CPU of the ``index``-th of several server processes (one each, round robin)."""
        return {self.cpus[index % len(self.cpus)]} if self.pinned else set(self.cpus)

    def describe(self) -> str:
        if not self.pinned:
            return f"not pinned (one CPU: {self.cpus})"
        return f"server under test on CPU {sorted(self.server)}, load generator and helpers on CPU {sorted(self.load)}"


class Percentiles(TypedDict):
    n: int
    p50: float
    p90: float
    p99: float
    max: float


def percentiles(samples: list[float]) -> Percentiles:
    """Nearest-rank percentiles (seconds in, seconds out); NaN when there are no samples."""
    if not samples:
        return {"n": 0, "p50": math.nan, "p90": math.nan, "p99": math.nan, "max": math.nan}
    ordered = sorted(samples)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    return {"n": len(ordered), "p50": rank(0.5), "p90": rank(0.9), "p99": rank(0.99), "max": ordered[-1]}


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop when it is installed (as uvicorn does for our server), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        return asyncio.run(main)
    return uvloop.run(main)
