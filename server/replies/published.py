"""Recording held replies as published, in batches, off the replies' path.

A reply's own round trip stores it and settles its row (``done``, see :func:`server.store.replies.settling`); once
its ``message`` frame went out, the row is marked published here: the marks of all replies shown while one
update was on its way go in the next update, so a busy process makes one statement for many replies and a reply
never waits for its mark. A mark that cannot be recorded (the database is away) is dropped: the row's lease runs
out and the reply sweeper shows the stored reply once more, as for a process that died before publishing.
"""

from __future__ import annotations

import asyncio
import logging

from ..store.errors import unreachable
from ..store.replies import finish_many
from .jobs import ReplyJob
from .leases import Leases

logger = logging.getLogger(__name__)


class PublishMarks:
    """This process's replies shown but not yet recorded as published."""

    def __init__(self, leases: Leases) -> None:
        self.leases = leases
        self._queued: list[ReplyJob] = []
        self._writer: asyncio.Task[None] | None = None

    def add(self, job: ReplyJob) -> None:
        """``job``'s reply (held by this process) was shown: record it as published (and done) soon."""
        self._queued.append(job)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name="reply-publish-marks")

    async def flush(self) -> None:
        """Wait until every mark added so far is recorded (or dropped)."""
        if self._writer is not None:
            await asyncio.shield(self._writer)

    async def _write(self) -> None:
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                try:
                    await finish_many(self.leases.pool, batch, self.leases.holder)
                except Exception as exc:
                    if unreachable(exc):
                        self.leases.outage.noticed(exc)
                    else:
                        logger.warning("%d replies could not be recorded as published: %s", len(batch), exc)
        finally:
            self._writer = None
