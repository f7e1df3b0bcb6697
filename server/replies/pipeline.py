"""The one reply pipeline: ask a replica, stream its deltas, keep the reply, report any failure.

Chat, room turns, Pure Voice and Task Memory all produce replies here. What differs between them is a
:class:`ReplyStorage` registered under the job's ``kind``: how a delta, the kept reply and a failure look to
the audience, and where the reply is stored. Every failure reaches the audience (with the asking frame's
client id) and the log (with its traceback), and is raised to the caller as a domain error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

import msgspec

from protocol import ErrorCode, ErrorFrame, ServerFrame, room_stream

from .. import metrics
from ..errors import DomainError, ReplicaRejected, ReplicaUnavailable, error_code
from ..hub.hub import Hub
from ..sensay.client import SensayClient
from ..sensay.errors import SensayError
from .failures import replica_failure
from .jobs import Audience, Reply, ReplyJob, RoomAudience, UserAudience

logger = logging.getLogger(__name__)


class ReplyStorage(Protocol):
    """How one kind of reply is shown and kept."""

    async def existing(self, job: ReplyJob) -> Reply | None:
        """The reply if it was kept already (a job run again must not store it twice)."""
        ...

    def delta(self, job: ReplyJob, index: int, text: str) -> ServerFrame | None:
        """The frame showing the ``index``-th piece of the reply as it streams (``None``: not shown)."""
        ...

    async def store(self, job: ReplyJob, content: str) -> Reply:
        """Keep the finished reply."""
        ...

    def shown(self, job: ReplyJob, reply: Reply) -> ServerFrame | None:
        """The frame showing the kept reply (``None``: not shown)."""
        ...

    def failed(self, job: ReplyJob, code: ErrorCode, detail: str) -> ServerFrame | None:
        """The frame telling the audience the reply failed (``None``: nobody to tell)."""
        ...


class _Timing:
    """Reply latency for the metrics: to the first delta and to the end, observed with the outcome."""

    __slots__ = ("kind", "start", "first")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.start = time.perf_counter()
        self.first: float | None = None

    def first_delta(self) -> None:
        self.first = time.perf_counter() - self.start

    def done(self, outcome: str) -> None:
        """``outcome``: ``stored``, ``cancelled`` or the failure's error code (a small fixed set)."""
        metrics.REPLY_SECONDS.labels(self.kind, outcome).observe(time.perf_counter() - self.start)
        if self.first is not None:
            metrics.REPLY_FIRST_DELTA.labels(self.kind, outcome).observe(self.first)


class Replies:
    """Runs reply jobs: inline (:meth:`run`) or in a task the pipeline owns (:meth:`start`)."""

    def __init__(self, sensay: SensayClient, hub: Hub, *, timeout: float = 120.0) -> None:
        self.sensay = sensay
        self.hub = hub
        self.timeout = timeout
        """Seconds a whole reply may take (Sensay retries included) before it fails as unavailable."""
        self._storages: dict[str, ReplyStorage] = {}
        self._running: dict[tuple[str, str | None], asyncio.Task[Reply]] = {}

    def register(self, kind: str, storage: ReplyStorage) -> None:
        """Keep and show the replies of jobs of ``kind`` with ``storage``."""
        self._storages[kind] = storage

    async def run(self, job: ReplyJob) -> Reply:
        """Produce the reply: stream it to the audience, keep it, show it; raise a :class:`DomainError` on failure.

        Cancelling the call drops the reply (nothing is kept, nothing reported).
        """
        storage = self._storages[job.kind]
        timing = _Timing(job.kind)
        try:
            reply = await storage.existing(job)
            if reply is not None:
                return reply
            content = await self._stream(job, storage, timing)
            reply = await storage.store(job, content)
        except asyncio.CancelledError:
            timing.done("cancelled")
            raise
        except Exception as exc:
            error = replica_failure(exc)
            timing.done(error_code(error).value)
            self._log(job, exc, error)
            try:
                await self._send(job.audience, _with_wait(storage.failed(job, error_code(error), error.detail), error))
            except Exception:
                logger.exception("telling the audience that a %s reply failed failed too", job.kind)
            raise error from exc
        timing.done("stored")
        await self._send(job.audience, storage.shown(job, reply))
        return reply

    def start(self, job: ReplyJob) -> asyncio.Task[Reply]:
        """Run ``job`` in a task owned by the pipeline (it outlives the caller's socket); join a running one.

        A failure is reported by :meth:`run`; the task's exception is retrieved here, so an unawaited task
        is not reported again as "never retrieved".
        """
        task = self._running.get(job.key)
        if task is None:
            task = asyncio.create_task(self.run(job), name=f"reply-{job.kind}-{job.reply_to}")
            self._running[job.key] = task
            task.add_done_callback(lambda done: self._finished(job, done))
        return task

    async def ask(self, asker: str, replica_id: str, prompt: str) -> str:
        """A one-off question whose answer is neither shown nor kept (e.g. a moderator's pick)."""
        deadline = asyncio.get_running_loop().time() + self.timeout
        try:
            async with asyncio.timeout_at(deadline):
                return await self.sensay.chat(asker, replica_id, prompt, deadline=deadline)
        except (SensayError, TimeoutError) as exc:
            error = replica_failure(exc)
            logger.warning("replica %s could not answer a question of %s: %s", replica_id, asker, exc, exc_info=exc)
            raise error from exc

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) for the replies the pipeline owns to be kept, so a restart loses none of them."""
        tasks = list(self._running.values())
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def _stream(self, job: ReplyJob, storage: ReplyStorage, timing: _Timing) -> str:
        parts: list[str] = []
        deadline = asyncio.get_running_loop().time() + self.timeout
        async with asyncio.timeout_at(deadline):
            async for text in self.sensay.chat_stream(
                job.asker, job.replica_id, job.prompt, skip_chat_history=job.skip_history, deadline=deadline
            ):
                if not parts:
                    timing.first_delta()
                await self._send(job.audience, storage.delta(job, len(parts), text))
                parts.append(text)
        return "".join(parts)

    async def _send(self, audience: Audience | None, frame: ServerFrame | None) -> None:
        if frame is None or audience is None:
            return
        if isinstance(audience, UserAudience):
            await self.hub.send_to_user(audience.user_id, frame)
        elif isinstance(audience, RoomAudience):
            await self.hub.send_to_channel(room_stream(str(audience.room_id)), frame)

    def _finished(self, job: ReplyJob, task: asyncio.Task[Reply]) -> None:
        if self._running.get(job.key) is task:
            del self._running[job.key]
        if not task.cancelled():
            task.exception()  # reported and logged by run()

    @staticmethod
    def _log(job: ReplyJob, exc: BaseException, error: DomainError) -> None:
        what = f"{job.kind} reply of replica {job.replica_id} to {job.reply_to} (client id {job.client_id})"
        if isinstance(error, (ReplicaUnavailable, ReplicaRejected)):
            logger.warning("%s failed: %s", what, exc, exc_info=exc)
        else:
            logger.error("%s failed", what, exc_info=exc)


def _with_wait(frame: ServerFrame | None, error: DomainError) -> ServerFrame | None:
    """An error frame carries the wait the cause asked for (Sensay's ``Retry-After``)."""
    if isinstance(frame, ErrorFrame) and error.retry_after is not None:
        return msgspec.structs.replace(frame, retry_after=error.retry_after)
    return frame
