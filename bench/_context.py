"""What one ``python -m bench`` run shares between its benchmarks: settings, CPUs, database, replica, users."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench._common import Placement
from bench._report import Figure
from bench._services import (
    LoadGenerator,
    Replica,
    Service,
    User,
    end_open_work,
    hub,
    make_room,
    make_users,
    prime_rooms,
)


@dataclass
class Bench:
    args: argparse.Namespace
    placement: Placement
    dsn: str
    data_dir: Path
    replica: Replica
    silent: Replica
    load: LoadGenerator
    users: list[User] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)

    @property
    def quick(self) -> bool:
        return bool(self.args.quick)

    def runs(self, default: int) -> int:
        return int(self.args.runs) if self.args.runs else (1 if self.quick else default)

    @staticmethod
    def nonce() -> str:
        return uuid.uuid4().hex[:8]

    @asynccontextmanager
    async def hub(
        self,
        cpus: set[int] | None = None,
        *,
        silent: bool = False,
        replica: Replica | None = None,
        settings: dict[str, object] | None = None,
    ) -> AsyncIterator[Service]:
        """A fresh hub process on the shared scratch database (on the server CPU unless told otherwise), whose
        replicas answer at once, ``silent``: not while the benchmark measures, or as ``replica`` does;
        ``settings`` as for ``hub``."""
        cpus = self.placement.server if cpus is None else cpus
        replica = replica or (self.silent if silent else self.replica)
        async with hub(self.dsn, replica, cpus, data_dir=self.data_dir, settings=settings) as service:
            yield service
        # A stopping hub hands the room runs it holds back; the next benchmark's hub, on the same scratch database,
        # would take them up and charge their turns to its own figures (2% of a chat profile once).
        await end_open_work(self.dsn)

    async def ensure_users(self, service: Service, count: int) -> list[User]:
        """The first ``count`` benchmark users, signing up the missing ones through ``service``."""
        if len(self.users) < count:
            made = await make_users(service.http_url, count - len(self.users), offset=len(self.users))
            self.users.extend(made)
        return self.users[:count]

    async def rooms(self, service: Service, members: list[User], count: int = 1, *, prime: bool = True) -> list[str]:
        """``count`` new rooms of ``members``, each primed unless told not to (see :func:`prime_rooms`)."""
        rooms = [await make_room(service.http_url, members[0], members) for _ in range(count)]
        if prime:
            await prime_rooms(service, members[0], rooms)
        return rooms

    @asynccontextmanager
    async def profiled(self, service: Service, label: str) -> AsyncIterator[None]:
        """With ``--profile DIR``: sample ``service`` with py-spy while a load runs (warm-up and measured window)
        into ``DIR/<label>-<nonce>.txt`` (collapsed stacks, one ``frame;frame;… count`` line each)."""
        if not self.args.profile:
            yield
            return
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        path = Path(self.args.profile) / f"{label}-{self.nonce()}.txt"  # made by parse()
        seconds = math.ceil(self.args.warmup + self.args.duration)
        argv = [py_spy, "record", "--pid", str(service.pid), "--format", "raw", "--rate", "250"]
        argv += ["--nonblocking", "--duration", str(seconds), "--output", str(path)]
        cpus = self.placement.load
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            preexec_fn=lambda: os.sched_setaffinity(0, cpus),
        )
        try:
            yield
        finally:
            async with asyncio.timeout(seconds + 30):
                await proc.wait()
            print(f"  (profile: {path})")

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure
