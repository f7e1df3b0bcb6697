"""Taking up, in every process, durable work whose holder died or stopped, and acked messages whose work was never
recorded (their process died in between)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping
from functools import partial
from typing import Final, TypeAlias

from ..logs import log_task_failure
from ..store.errors import unreachable
from .jobs import ReplyJob
from .leases import Claim, Leases

SWEEP_BATCH: Final = 32

Resume: TypeAlias = Callable[[Claim], Coroutine[None, None, None]]
"""Takes up work other than a reply (e.g. a room's run) and owns its claim from then on."""
FindOrphans: TypeAlias = Callable[[float, int], Awaitable[list[ReplyJob]]]
"""``find(older_than, limit)``: the jobs of up to ``limit`` acked pieces of work older than ``older_than`` seconds
whose work was never recorded."""

logger = logging.getLogger(__name__)


class Sweeper:
    """Every :attr:`Leases.beat`: claims expired work of the durable kinds and of those with a resumer, and adopts
    orphans; a claimed reply goes to ``take_up``, other work to its resumer. The collections are the pipeline's own
    (read when sweeping, so kinds registered later are swept too). While the database is away, and for one lease
    after it answers again, nothing is claimed: the holders renew first."""

    def __init__(
        self,
        leases: Leases,
        durable: Collection[str],
        resumers: Mapping[str, Resume],
        orphans: Mapping[str, FindOrphans],
        running: Collection[tuple[str, str | None]],
        take_up: Callable[[Claim], None],
    ) -> None:
        self.leases = leases
        self._durable = durable
        self._resumers = resumers
        self._orphans = orphans
        self._running = running
        self._take_up = take_up
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._sweep_forever(), name="reply-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.leases.beat)
            kinds = sorted(set(self._durable) | set(self._resumers))
            if not kinds:
                continue
            try:
                if self.leases.outage.within(self.leases.lease):
                    # Every lease ran out while the database was away, and their holders renew them (and store the
                    # replies they hold) only once it answers again: a lease's worth of grace lets them, so their
                    # users do not see those replies restart elsewhere. Work of a process that died is taken up
                    # one lease later.
                    await self.leases.ping()
                    continue
                claims = await self.leases.claim_expired(kinds, SWEEP_BATCH)
            except Exception as exc:
                if not unreachable(exc):
                    logger.warning("sweeping for work whose process died or stopped failed (retrying): %s", exc)
                continue
            for claim in claims:
                job = claim.job
                resume = self._resumers.get(job.kind)
                if resume is not None:
                    logger.warning("%s %s: taken up after its lease ran out", job.kind, job.reply_to)
                    task = asyncio.create_task(resume(claim), name=f"resume-{job.kind}-{job.reply_to}")
                    task.add_done_callback(partial(log_task_failure, logger))
                    continue
                if job.key in self._running:
                    continue  # still ours: its lease lapsed while the database was away, and is ours again
                logger.warning(
                    "%s reply to %s: taken up after its lease ran out (attempt %d)",
                    job.kind,
                    job.reply_to,
                    claim.attempt,
                )
                self._take_up(claim)
            await self._adopt_orphans()

    async def _adopt_orphans(self) -> None:
        """Record and claim (one process does) the replies of acked messages whose process died before recording
        them; run those claimed here."""
        for kind, find in self._orphans.items():
            try:
                jobs = await find(self.leases.lease, SWEEP_BATCH)
                for job in jobs:
                    if job.key in self._running:
                        continue  # its reply is being recorded here (a slow start, not an orphan)
                    claim = await self.leases.take(job)
                    if claim is None:
                        continue  # another process took it up
                    logger.warning(
                        "%s %s: its message was acked but its work never recorded (its process died): taken up",
                        job.kind,
                        job.reply_to,
                    )
                    resume = self._resumers.get(job.kind)
                    if resume is not None:
                        task = asyncio.create_task(resume(claim), name=f"adopt-{job.kind}-{job.reply_to}")
                        task.add_done_callback(partial(log_task_failure, logger))
                    else:
                        self._take_up(claim)
            except Exception as exc:
                if not unreachable(exc):
                    logger.warning("sweeping for acked %s messages without a reply failed (retrying): %s", kind, exc)
