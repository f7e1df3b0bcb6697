"""Due work of the prototypes: task reminders, lapsed memory stakes, expired bonds, scheduled calls and calls that
run too long.

Every process runs one :class:`Scheduler`. The work lives in the domain rows themselves (a task's ``due_at``, an
unlock's ``expires_at``, a call's ``scheduled_for``), each sweep claims what is due with
``FOR UPDATE SKIP LOCKED`` and settles it in the same transaction, so a restart loses nothing (the rows are still
due) and exactly one process settles each item. A job queue library would keep a second copy of those times
that every edit of a task or call would have to follow; a sweep over the rows is a few lines.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from ..outages import outage
from .base import Context

logger = logging.getLogger(__name__)

Sweep = Callable[[Context], Awaitable[int]]
"""Settles what is due now and returns how many items it settled."""


class Scheduler:
    """Runs the sweeps every ``interval`` seconds (sooner after :meth:`wake`) until stopped."""

    def __init__(self, ctx: Context, sweeps: Sequence[Sweep], interval: float) -> None:
        self.ctx = ctx
        self.sweeps = list(sweeps)
        self.interval = interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._waiting = False  # a sweep found the database down: logged once, until a round finds it back

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="prototype-scheduler")

    def wake(self) -> None:
        """Look for due work now (something was just scheduled)."""
        self._wake.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def run_once(self) -> int:
        """Run every sweep once; a failing sweep is logged with its traceback and the others still run. A database
        outage is logged once when a sweep first meets it and once when a whole round runs without it, not per
        sweep and round."""
        settled = 0
        down = False
        for sweep in self.sweeps:
            try:
                settled += await sweep(self.ctx)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if outage(exc) is not None:
                    if not self._waiting:
                        logger.warning("due work waits for the database (%r): the sweeps carry on once it answers", exc)
                    self._waiting = down = True
                    continue
                logger.exception("the %s sweep failed; it runs again in %.1f s", sweep.__qualname__, self.interval)
        if self._waiting and not down:
            self._waiting = False
            logger.warning("the database answers again: due work is swept again")
        return settled

    async def _run(self) -> None:
        while True:
            await self.run_once()
            self._wake.clear()
            try:
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
