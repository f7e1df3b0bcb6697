"""The one lease mechanism for work held by one process at a time: replies and room runs.

Rows of ``replies`` (:mod:`server.store.replies`, whose functions are re-exported here bound to
:class:`~server.replies.jobs.ReplyJob`) are claimed, kept alive by a heartbeat, released when this process stops
and settled (done or failed) through :class:`Leases`; the reply pipeline and the room conductor both use it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeAlias, TypeVar

import asyncpg

from ..errors import DomainError, NotReady, ReplyDelayed, error_code
from ..store import replies as rows
from ..store.database import ping
from ..store.errors import unreachable
from ..store.replies import (
    Outcome,
    ReplyState,
    asked,
    fail,
    finish,
    holder_name,
    outcome,
    release,
    renew,
    settle,
    submit,
)
from .jobs import ReplyJob

Claim: TypeAlias = rows.Claim[ReplyJob]
T = TypeVar("T")

logger = logging.getLogger(__name__)

__all__ = [
    "Claim",
    "DatabaseOutage",
    "Leases",
    "Outcome",
    "ReplyState",
    "asked",
    "claim",
    "claim_expired",
    "fail",
    "finish",
    "holder_name",
    "outcome",
    "release",
    "renew",
    "settle",
    "submit",
]


async def claim(pool: asyncpg.Pool, kind: str, reply_to: str, holder: str, lease: float) -> Claim | None:
    """Take the reply if it is pending or its lease ran out; ``None`` when another process holds it or it ended."""
    return await rows.claim(pool, ReplyJob, kind, reply_to, holder, lease)


async def claim_expired(pool: asyncpg.Pool, kinds: list[str], holder: str, lease: float, limit: int) -> list[Claim]:
    """Take up to ``limit`` replies of ``kinds`` whose lease ran out: their process died or lost the database."""
    return await rows.claim_expired(pool, ReplyJob, kinds, holder, lease, limit)


class DatabaseOutage:
    """Logs one WARNING when the database stops answering and one when it answers again, however many replies
    notice it in between; remembers when it last answered again."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.ended_at: float | None = None
        """When (``time.monotonic()``) the last outage this process noticed ended."""

    @property
    def down(self) -> bool:
        return self.since is not None

    def within(self, seconds: float) -> bool:
        """The database is away, or came back less than ``seconds`` ago."""
        return self.down or (self.ended_at is not None and time.monotonic() - self.ended_at < seconds)

    def noticed(self, exc: BaseException) -> None:
        if self.since is None:
            self.since = time.monotonic()
            logger.warning("the database is not answering (%s): replies and room turns wait for it", exc)

    def ended(self) -> None:
        if self.since is not None:
            self.ended_at = time.monotonic()
            logger.warning(
                "the database answers again after %.1f s: waiting replies carry on", self.ended_at - self.since
            )
            self.since = None


class Leases:
    """This process's leases: claim, heartbeat, release and settle work rows (replies and room runs).

    A lease is held for 3/4 of ``lease`` and renewed every 1/4 of it (when the sweepers look too), so a dead
    holder's work is taken up within ``lease`` seconds. Once :meth:`close` is called nothing new is claimed.
    """

    def __init__(self, pool: asyncpg.Pool, *, lease: float = 10.0) -> None:
        self.pool = pool
        self.lease = lease
        self.holder = holder_name()
        self.closing = False
        self.outage = DatabaseOutage()

    @property
    def hold(self) -> float:
        return self.lease * 0.75

    @property
    def beat(self) -> float:
        """Seconds between renewals (and between sweeps for expired leases)."""
        return self.lease / 4

    def close(self) -> None:
        """Claim nothing from now on (the process is stopping)."""
        self.closing = True

    async def _db(self, call: Awaitable[T]) -> T:
        try:
            result = await call
        except Exception as exc:
            if unreachable(exc):
                self.outage.noticed(exc)
            raise
        self.outage.ended()
        return result

    async def take(self, job: ReplyJob, *, asking: bool = False) -> Claim | None:
        """Record ``job`` as work to do, and claim it unless another process holds it, it ended or this process is
        stopping (then it waits, pending, for another process): one round trip. ``asking``: Sensay is asked at once
        (recorded with the claim; :meth:`asked` is not needed then)."""
        assert job.reply_to is not None
        if self.closing:
            await self._db(submit(self.pool, job, 0))
            return None
        return await self._db(rows.take(self.pool, ReplyJob, job, self.holder, self.hold, asking=asking))

    async def claim(self, kind: str, reply_to: str) -> Claim | None:
        """Take the work if it is pending or its lease ran out (``None`` also while stopping)."""
        if self.closing:
            return None
        return await self._db(claim(self.pool, kind, reply_to, self.holder, self.hold))

    async def ping(self) -> None:
        """One round trip (raises while the database is away): tells :attr:`outage` when it answers again."""
        await self._db(ping(self.pool))

    async def claim_expired(self, kinds: list[str], limit: int) -> list[Claim]:
        """Take up to ``limit`` pieces of work whose lease ran out or that were handed back."""
        if self.closing:
            return []
        return await self._db(claim_expired(self.pool, kinds, self.holder, self.hold, limit))

    def keep(self, job: ReplyJob, lost: Callable[[], None]) -> asyncio.Task[None]:
        """Renew ``job``'s lease until the returned task is cancelled; ``lost()`` when another process took it."""
        return asyncio.create_task(self._renew(job, lost), name=f"lease-{job.kind}-{job.reply_to}")

    async def _renew(self, job: ReplyJob, lost: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(self.beat)
            try:
                held = await self._db(renew(self.pool, job, self.holder, self.hold))
            except Exception as exc:
                if not unreachable(exc):
                    logger.warning("the lease of %s %s could not be renewed: %s", job.kind, job.reply_to, exc)
                continue
            if not held:
                lost()
                return

    async def asked(self, job: ReplyJob) -> bool:
        """Note that Sensay is being asked (the first time); ``False`` when this process lost the work."""
        return await self._db(asked(self.pool, job, self.holder))

    async def release(self, job: ReplyJob) -> None:
        """Hand held work back unfinished (pending, lease over): any process, this one restarted too, takes it up.

        Never raises: work that cannot be handed back is taken up when its lease runs out.
        """
        try:
            if await self._db(release(self.pool, job, self.holder)):
                logger.warning("%s %s handed over to another process (this one is stopping)", job.kind, job.reply_to)
        except Exception as exc:
            logger.warning(
                "%s %s could not be handed over, its lease runs out instead: %s", job.kind, job.reply_to, exc
            )

    async def settle(self, job: ReplyJob, error: DomainError | None, *, held: bool = True) -> None:
        """Record how the work ended: done (and published), or failed with ``error``'s code, so sending the same
        message again runs it again. ``held``: through this process's lease (else recorded whoever holds it).

        Never raises. Work that failed because the database was unreachable is not recorded as failed (it could
        not be, and it did not fail): it is left to its lease and taken up again once the database answers.
        """
        if isinstance(error, (NotReady, ReplyDelayed)):
            return
        try:
            if error is None:
                if held:
                    await self._db(finish(self.pool, job, self.holder))
                else:
                    await self._db(settle(self.pool, job, ReplyState.DONE))
                return
            code = error_code(error)
            if held:
                await self._db(
                    fail(
                        self.pool,
                        job,
                        self.holder,
                        code=code.value,
                        retryable=code.retryable,
                        retry_after=error.retry_after,
                        detail=error.detail,
                    )
                )
            else:
                await self._db(
                    settle(
                        self.pool,
                        job,
                        ReplyState.FAILED,
                        code=code.value,
                        retryable=code.retryable,
                        retry_after=error.retry_after,
                        detail=error.detail,
                    )
                )
        except Exception as exc:
            if not unreachable(exc):  # an outage is logged once, by its start
                logger.warning("how %s %s ended could not be recorded: %s", job.kind, job.reply_to, exc)

    async def outcome(self, kind: str, reply_to: str) -> Outcome | None:
        """The work's recorded state (``None``: no such work)."""
        return await self._db(outcome(self.pool, kind, reply_to))
