"""What the benchmarks print: the machine, one line per measurement, and the summary table of figures."""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from bench._common import Placement


def machine(placement: Placement) -> list[str]:
    """Lines describing where the figures come from."""
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "-"

    packages = ", ".join(
        f"{p} {version(p)}" for p in ("uvicorn", "websockets", "starlette", "uvloop", "asyncpg", "msgspec")
    )
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return [
        f"machine: {os.cpu_count()} CPUs ({model}), load average {load}",
        f"software: Python {platform.python_version()}, {packages}",
        f"placement: {placement.describe()}",
    ]


def num(value: float, digits: int = 0) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def p99(report: dict[str, Any]) -> float:
    """A load's p99 latency; infinite when some sends never finished (they would be its slowest)."""
    value = report["latency"]["p99"]
    if report["unfinished"]:
        return math.inf
    return float(value) if value is not None else math.nan  # nothing sent in the window finished: no sample


def ms(seconds: float | None) -> str:
    return "-" if seconds is None or math.isnan(seconds) else f"{seconds * 1000:,.1f} ms"


@dataclass
class Figure:
    """One row of the summary: ours against a baseline over one or more runs.

    ``unit`` formats the values; ``ratio`` is ours / baseline. A goal, if any, is on the median of ours
    (``at_least``/``at_most``) or on the median ratio (``ratio_at_least``).
    """

    name: str
    baseline_name: str
    unit: Callable[[float], str]
    at_least: float | None = None
    at_most: float | None = None
    ratio_at_least: float | None = None
    ours: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)

    def add(self, ours: float, baseline: float) -> None:
        self.ours.append(ours)
        self.baseline.append(baseline)

    @property
    def ratios(self) -> list[float]:
        return [o / b if b else math.nan for o, b in zip(self.ours, self.baseline, strict=True)]

    @staticmethod
    def _spread(values: list[float], fmt: Callable[[float], str]) -> str:
        if not values:
            return "-"
        middle = fmt(statistics.median(values))
        if len(values) == 1:
            return middle
        return f"{middle} ({fmt(min(values))} – {fmt(max(values))})"

    @property
    def goal(self) -> str:
        if self.at_least is not None:
            return f"≥ {self.unit(self.at_least)}"
        if self.at_most is not None:
            return f"≤ {self.unit(self.at_most)}"
        if self.ratio_at_least is not None:
            return f"≥ {self.ratio_at_least}x"
        return "-"

    def status(self) -> str:
        if self.goal == "-" or not self.ours:
            return "-"
        ours, ratio = statistics.median(self.ours), statistics.median(self.ratios)
        met = (
            (self.at_least is None or ours >= self.at_least)
            and (self.at_most is None or ours <= self.at_most)
            and (self.ratio_at_least is None or ratio >= self.ratio_at_least)
        )
        return "met" if met else "**NOT met**"

    def row(self) -> str:
        cells = [
            self.name,
            self._spread(self.ours, self.unit),
            f"{self._spread(self.baseline, self.unit)} ({self.baseline_name})",
            self._spread(self.ratios, lambda r: f"{r:.2f}x"),
            self.goal,
            self.status(),
        ]
        return "| " + " | ".join(cells) + " |"


def table(figures: list[Figure]) -> list[str]:
    head = ["| benchmark | sensay-hub | baseline | ratio | goal | status |", "|---|---|---|---|---|---|"]
    return head + [f.row() for f in figures]
