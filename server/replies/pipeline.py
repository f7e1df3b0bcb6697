"""The one reply pipeline: ask a replica, stream its deltas, keep the reply, report any failure.

Chat, room turns, Pure Voice and Task Memory all produce replies here. What differs between them is a
:class:`ReplyStorage` registered under the job's ``kind``: how a delta, the kept reply and a failure look to
the audience, and where the reply is stored. Every failure reaches the audience (with the asking frame's
client id) and the log (with its traceback), and is raised to the caller as a domain error.

A kind registered ``durable`` (chat) keeps each reply as a row held through :class:`~server.replies.leases.Leases`
(the one lease mechanism, shared with room runs): the process that claims it asks Sensay, renewing its lease while
it works; its failure is stored (``failed``, with code, ``retryable`` and ``retry_after``) and sending the same
message again re-runs it. Every process sweeps for replies whose lease ran out (their process died or lost the
database) or that were handed back (their process stopped), and for acked messages whose process died before
recording their reply (``adopt_with``), and takes them up: a successor first looks in Sensay's
chat history for the answer, so Sensay is asked once, tells the audience to drop the partial deltas
(``reply.started`` with ``restart``), and publishes a reply it finds stored but not recorded as published. A
failure of the database itself is not stored as ``failed`` (it cannot be): the audience gets a ``notice``
(``reply_delayed``), and a claimed reply is held by its process until the database answers (``_keep``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from functools import partial
from typing import Final

from protocol import ErrorCode, ServerFrame, room_stream

from ..errors import DomainError, NotReady, ReplicaRejected, ReplicaUnavailable, ReplyDelayed, error_code
from ..hub.hub import Hub
from ..outages import Waiting, unreachable, while_unreachable
from ..sensay.client import SensayClient
from ..sensay.errors import SensayError
from . import faults
from .asking import HANDED_OVER, HANDOVER_SECONDS, POLL_SECONDS, Asking, LeftToLease, Timing, stop, with_wait
from .coalesce import ROOM_DELTA_INTERVAL, DeltaCoalescer
from .failures import replica_failure, stored_failure
from .jobs import Audience, Reply, ReplyJob, RoomAudience, UserAudience
from .leases import Claim, Leases, ReplyState
from .published import PublishMarks
from .storages import DurableStorage, ReplyStorage
from .sweeper import FindOrphans, Resume, Sweeper

logger = logging.getLogger(__name__)

DELTA_INTERVAL: Final = 0.04
HISTORY_POLL_SECONDS: Final = 0.5
KEEP_RETRY_SECONDS: Final = 0.5
DELAYED: Final = "the database is not answering; the reply is stored once it answers again, nothing needs re-sending"


class _LostLease(Exception):
    """Another process holds the reply now (this one's lease ran out)."""


class Replies:
    """Runs reply jobs: inline (:meth:`run`) or in a task the pipeline owns (:meth:`start`), durably for kinds
    registered so (given :class:`~server.replies.leases.Leases`)."""

    def __init__(
        self,
        sensay: SensayClient,
        hub: Hub,
        *,
        timeout: float = 120.0,
        leases: Leases | None = None,
        delta_interval: float = DELTA_INTERVAL,
        room_delta_interval: float = ROOM_DELTA_INTERVAL,
    ) -> None:
        self.sensay = sensay
        self.hub = hub
        self.timeout = timeout
        """Seconds a whole reply may take (Sensay retries included) before it fails as unavailable."""
        self.leases = leases
        self.delta_interval = delta_interval
        """Seconds between a reply's ``reply.delta`` frames after the first (0: a frame per streamed piece)."""
        self.room_delta_interval = room_delta_interval  # a room's: each frame goes to every member
        self._storages: dict[str, ReplyStorage] = {}
        self._durable: dict[str, DurableStorage] = {}
        self._published = PublishMarks(leases) if leases is not None else None
        self._running: dict[tuple[str, str | None], asyncio.Task[Reply]] = {}
        self._resumers: dict[str, Resume] = {}
        self._orphans: dict[str, FindOrphans] = {}
        self._sweeper = (
            Sweeper(leases, self._durable, self._resumers, self._orphans, self._running, self._take_up)
            if leases is not None
            else None
        )

    def register(self, kind: str, storage: ReplyStorage) -> None:
        """Keep and show the replies of jobs of ``kind`` with ``storage``."""
        self._storages[kind] = storage

    def register_durable(self, kind: str, storage: DurableStorage) -> None:
        """Keep and show the replies of jobs of ``kind`` with ``storage``, as rows held through leases."""
        self._storages[kind] = storage
        self._durable[kind] = storage

    def resume_with(self, kind: str, resume: Resume) -> None:
        """Take up work of ``kind`` whose lease ran out with ``resume`` (work other than a reply, e.g. a room's run).

        ``resume`` runs in a task and owns the claim from then on (renewing and settling it).
        """
        self._resumers[kind] = resume

    def adopt_with(self, kind: str, find: FindOrphans) -> None:
        """Sweep also for work of ``kind`` that was acked but never recorded: ``find(older_than, limit)`` gives the
        jobs of up to ``limit`` such pieces older than ``older_than`` seconds (their process died in between)."""
        self._orphans[kind] = find

    async def run(
        self,
        job: ReplyJob,
        *,
        restart: bool = False,
        fresh: bool = False,
        asked_since: datetime | None = None,
        resumable: bool = False,
    ) -> Reply:
        """Produce the reply: stream it to the audience, keep it, show it; raise a :class:`DomainError` on failure.

        ``restart``: the reply may have been under way in a process that died (clients drop its deltas); a reply
        found stored is shown again. ``fresh``: no attempt before this one can have kept it (it is not looked
        for). ``asked_since``: Sensay may have been asked for it since then (its history is looked in first).
        ``resumable``: the caller's lease takes the work up again after a database outage (the audience is told
        the reply is delayed, not failed). Cancelling the call drops the reply (nothing is kept, nothing reported),
        once Sensay answered a request already sent (at most :data:`HANDOVER_SECONDS`), so that whoever carries on
        finds the message in Sensay's history rather than asking again.
        """
        request = Asking()
        work = asyncio.create_task(
            self._produce(
                job, None, request, restart=restart, fresh=fresh, asked_since=asked_since, resumable=resumable
            ),
            name=f"reply-work-{job.kind}-{job.reply_to}",
        )
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError as exc:
            known = await stop(work, request)
            if not known or not work.done():
                raise LeftToLease(*exc.args) from None
            raise

    def start(self, job: ReplyJob) -> asyncio.Task[Reply]:
        """Run ``job`` in a task owned by the pipeline (it outlives the caller's socket); join a running one.

        A durable job is recorded first, and runs here only if this process claims it; otherwise the task
        waits for the process that holds it. A failure is reported where it happens; the task's exception is
        retrieved here, so an unawaited task is not reported again as "never retrieved".
        """
        task = self._running.get(job.key)
        if task is None:
            work = self._durably(job) if self._is_durable(job) else self.run(job)
            task = self._own(job, work)
        return task

    def start_sweeping(self) -> None:
        """Take up, from now on, durable replies whose lease ran out (in every process)."""
        if self._sweeper is not None:
            self._sweeper.start()

    async def stop_sweeping(self) -> None:
        if self._sweeper is not None:
            await self._sweeper.stop()

    async def _produce(
        self,
        job: ReplyJob,
        claim: Claim | None,
        request: Asking,
        *,
        restart: bool = False,
        fresh: bool = False,
        asked_since: datetime | None = None,
        resumable: bool = False,
        failing: Callable[[DomainError], Awaitable[None]] | None = None,
    ) -> Reply:
        """``failing(error)``: called before the audience is told of a failure (nothing told before it returns)."""
        storage = self._storages[job.kind]
        timing = Timing(job.kind)
        asking = False  # whether a failure is Sensay's (a timeout there is no database outage)
        delayed = False  # whether the audience was told that the reply waits for the database (told once)

        async def tell_delayed(exc: BaseException) -> None:
            nonlocal delayed
            self._outage(exc)
            if not delayed:
                delayed = True
                await self._send(job.audience, storage.delayed(job, DELAYED))

        try:
            # A reply claimed for the first time was never under way: nothing to look for.
            fresh = fresh or (claim is not None and claim.attempt == 1)
            reply = None if fresh else await storage.existing(job)
            if reply is not None:
                # Kept by a run that may have ended before showing it (a crash, a failure after it): a stored reply
                # is a shown reply. A durable reply recorded as published never comes here (it is done).
                await self._send(job.audience, storage.shown(job, reply))
                return reply
            restart = restart or (claim is not None and claim.attempt > 1)
            await self._send(job.audience, storage.started(job, restart))
            content = None
            since = claim.asked_at if claim is not None else asked_since
            if since is not None:
                asking = True
                content = await self._answer_in_history(job, since)
                asking = False
            if content is None:
                if claim is not None and not claim.noted:
                    assert self.leases is not None
                    if not await self.leases.asked(job):
                        raise _LostLease
                asking = True
                content = await self._stream(job, storage, timing, request)
                asking = False
            reply = await self._keep(job, claim, storage, content, tell_delayed)
            faults.after_store()
        except (asyncio.CancelledError, _LostLease):
            timing.done("cancelled")
            raise
        except Exception as exc:
            if request.stopping:
                # Stopped to be handed over: an HTTP library's clean-up can absorb the cancel and the stream then
                # breaks off (ReadError). That is no failure of the reply: nothing is reported, whoever carries on
                # produces it.
                timing.done("cancelled")
                raise asyncio.CancelledError(HANDED_OVER) from exc
            if (claim is not None or resumable) and not asking and unreachable(exc):
                timing.done(ErrorCode.REPLY_DELAYED.value)
                await tell_delayed(exc)
                raise ReplyDelayed(DELAYED) from exc
            error = replica_failure(exc)
            timing.done(error_code(error).value)
            self._log(job, exc, error)
            if failing is not None:
                await failing(error)
            await self._send(job.audience, with_wait(storage.failed(job, error_code(error), error.detail), error))
            raise error from exc
        timing.done("stored")
        await self._send(job.audience, storage.shown(job, reply))
        return reply

    async def _keep(
        self, job: ReplyJob, claim: Claim | None, storage: ReplyStorage, content: str, tell_delayed: Waiting
    ) -> Reply:
        """Store the reply; a claimed one settles its row in the same round trip. While the database is away a
        claimed reply is held here and stored once it answers (the lease is renewed meanwhile): left to its lease, it
        would be taken up by another process once the database is back, and its users would see it restart."""
        durable = self._durable.get(job.kind) if claim is not None else None
        if durable is None:
            return await storage.store(job, content)
        leases = self.leases
        assert leases is not None
        store = partial(durable.store_held, job, content, leases.holder, leases.hold)
        return await while_unreachable(store, patience=self.timeout, every=KEEP_RETRY_SECONDS, waiting=tell_delayed)

    def _outage(self, exc: BaseException) -> None:
        if self.leases is not None:
            self.leases.outage.noticed(exc)
        else:
            logger.warning("a reply waits for the database: %s", exc)

    def _is_durable(self, job: ReplyJob) -> bool:
        return self.leases is not None and job.kind in self._durable and job.reply_to is not None

    def _take_up(self, claim: Claim) -> None:
        """Run a reply claimed by the sweeper in a task owned by the pipeline."""
        self._own(claim.job, self._run_claimed(claim))

    def _own(self, job: ReplyJob, work: Coroutine[None, None, Reply]) -> asyncio.Task[Reply]:
        task = asyncio.create_task(work, name=f"reply-{job.kind}-{job.reply_to}")
        self._running[job.key] = task
        task.add_done_callback(lambda done: self._finished(job, done))
        return task

    async def _durably(self, job: ReplyJob) -> Reply:
        """Record the job, then produce it if this process claims it, else wait for whoever holds it.

        While the database cannot record it, the audience is told the reply is delayed and recording is retried.
        """
        leases = self.leases
        assert leases is not None and job.reply_to is not None
        told = False

        async def waiting(exc: BaseException) -> None:
            nonlocal told
            if not told:
                told = True
                await self._send(job.audience, self._storages[job.kind].delayed(job, DELAYED))

        try:
            claim = await while_unreachable(
                lambda: leases.take(job, asking=True), patience=self.timeout, every=leases.beat, waiting=waiting
            )
        except Exception as exc:
            await self._report_unclaimed(job, exc)
            raise replica_failure(exc) from exc
        if claim is None:
            return await self._await_outcome(job)
        return await self._run_claimed(claim)

    async def _run_claimed(self, claim: Claim) -> Reply:
        """Produce a claimed reply while renewing its lease; record how it ended, or hand it over when this
        process stops."""
        assert self.leases is not None
        job = claim.job
        request = Asking()
        carrier = asyncio.current_task()

        async def failing(error: DomainError) -> None:
            # Recorded, and no longer joined by a re-send, before the audience hears of it: the user may send the
            # same id again the moment the error arrives, and that must run the reply again.
            assert self.leases is not None
            await self.leases.settle(job, error)
            if self._running.get(job.key) is carrier:
                del self._running[job.key]

        work = asyncio.create_task(
            self._produce(job, claim, request, failing=failing), name=f"reply-work-{job.kind}-{job.reply_to}"
        )
        lost = asyncio.Event()

        def taken_over() -> None:
            lost.set()
            work.cancel("another process took the reply over")

        heartbeat = self.leases.keep(job, taken_over)
        try:
            # Shielded: a stopping process hands the reply over (below) once its Sensay request is not in doubt.
            reply = await asyncio.shield(work)
        except _LostLease:
            logger.warning("%s reply to %s: another process took it over", job.kind, job.reply_to)
            return await self._await_outcome(job)
        except asyncio.CancelledError:
            if not lost.is_set():  # this process is stopping
                await self._hand_over(job, work, request)
                raise
            logger.warning("%s reply to %s: another process took it over", job.kind, job.reply_to)
            return await self._await_outcome(job)
        except DomainError:
            raise  # recorded by ``failing`` (a delay is left to the lease)
        finally:
            heartbeat.cancel()
        assert self._published is not None
        self._published.add(job)  # stored and settled already; shown now
        return reply

    async def _hand_over(self, job: ReplyJob, work: asyncio.Task[Reply], request: Asking) -> None:
        """Stop a claimed reply and hand it over (pending again), once Sensay answered any request already sent.

        A request Sensay has not answered within :data:`HANDOVER_SECONDS` is not handed over: its lease runs out
        first, and the successor, later, finds the message in Sensay's history rather than asking again.
        """
        assert self.leases is not None
        known = await stop(work, request)
        if not work.done():
            logger.warning(
                "%s reply to %s: it did not stop; left to its lease, not handed over", job.kind, job.reply_to
            )
        elif not work.cancelled() and work.exception() is None:
            await self.leases.settle(job, None)  # it finished meanwhile: stored and shown
        elif known:
            await self.leases.release(job)
        else:
            logger.warning(
                "%s reply to %s: Sensay has not answered its request yet; left to its lease, not handed over",
                job.kind,
                job.reply_to,
            )

    async def _await_outcome(self, job: ReplyJob) -> Reply:
        """Wait for the process holding the reply; take it over if that process's lease runs out."""
        assert self.leases is not None and job.reply_to is not None
        storage = self._storages[job.kind]
        async with asyncio.timeout(self.timeout + 2 * self.leases.lease):
            while True:
                try:
                    outcome = await self.leases.outcome(job.kind, job.reply_to)
                    if outcome is not None and outcome.state is ReplyState.DONE:
                        reply = await storage.existing(job)
                        if reply is not None:
                            return reply
                    elif outcome is not None and outcome.state is ReplyState.FAILED:
                        raise stored_failure(outcome.code, outcome.detail, outcome.retry_after)
                    elif outcome is None or outcome.lease_expired:
                        claim = await self.leases.claim(job.kind, job.reply_to)
                        if claim is not None:
                            return await self._run_claimed(claim)
                except (DomainError, asyncio.CancelledError):
                    raise
                except Exception as exc:
                    if not unreachable(exc):
                        logger.warning("waiting for %s reply to %s: %s", job.kind, job.reply_to, exc)
                await asyncio.sleep(POLL_SECONDS)

    async def _answer_in_history(self, job: ReplyJob, asked_at: datetime) -> str | None:
        """A successor's look into Sensay's history: the answer an earlier attempt asked for, if it came.

        ``None`` when Sensay never took the message in (ask now). A message Sensay took in is waited for while
        Sensay may still be answering it (its asker died mid-stream).
        """
        if job.skip_history:
            return None  # not in the history: it is asked again
        async with asyncio.timeout(self.timeout):
            while True:
                found = await self.sensay.find_in_history(job.asker, job.replica_id, job.prompt, since=asked_at)
                if found is None:
                    return None
                if found.answer is not None:
                    logger.info("%s reply to %s: the answer was found in Sensay's history", job.kind, job.reply_to)
                    return found.answer
                await asyncio.sleep(HISTORY_POLL_SECONDS)

    async def _report_unclaimed(self, job: ReplyJob, exc: Exception) -> None:
        error = replica_failure(exc)
        self._log(job, exc, error)
        storage = self._storages[job.kind]
        await self._send(job.audience, with_wait(storage.failed(job, error_code(error), error.detail), error))

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
        """Stop claiming work; let the replies under way finish within ``timeout``; hand the rest over (pending
        again, so another process, or this one restarted, carries on at once with ``reply.started`` restart)."""
        if self.leases is not None:
            self.leases.close()
        await self.stop_sweeping()
        tasks = list(self._running.values())
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel(HANDED_OVER)
            if pending:
                await asyncio.wait(pending, timeout=3 * HANDOVER_SECONDS)
        if self._published is not None:
            await self._published.flush()

    async def _stream(self, job: ReplyJob, storage: ReplyStorage, timing: Timing, asking: Asking) -> str:
        parts: list[str] = []
        deadline = asyncio.get_running_loop().time() + self.timeout
        show = partial(self._show_delta, job, storage)
        interval = self.room_delta_interval if isinstance(job.audience, RoomAudience) else self.delta_interval
        async with asyncio.timeout_at(deadline), DeltaCoalescer(show, interval) as deltas:
            async for text in self.sensay.chat_stream(
                job.asker,
                job.replica_id,
                job.prompt,
                skip_chat_history=job.skip_history,
                deadline=deadline,
                in_doubt=asking.in_doubt,
            ):
                if not parts:
                    timing.first_delta()
                await deltas.add(text)
                parts.append(text)
        return "".join(parts)

    async def _show_delta(self, job: ReplyJob, storage: ReplyStorage, index: int, text: str) -> None:
        await self._send(job.audience, storage.delta(job, index, text))

    async def _send(self, audience: Audience | None, frame: ServerFrame | None) -> None:
        """Show ``frame``; a fan-out failure is logged, never fatal (the kept reply is found by ``resume``)."""
        if frame is None or audience is None:
            return
        try:
            if isinstance(audience, UserAudience):
                await self.hub.send_to_user(audience.user_id, frame)
            elif isinstance(audience, RoomAudience):
                await self.hub.send_to_channel(room_stream(str(audience.room_id)), frame)
        except Exception as exc:
            logger.warning("a %s frame could not be fanned out: %s", type(frame).__name__, exc, exc_info=exc)

    def _finished(self, job: ReplyJob, task: asyncio.Task[Reply]) -> None:
        if self._running.get(job.key) is task:
            del self._running[job.key]
        if not task.cancelled():
            task.exception()  # reported and logged by run()

    def _log(self, job: ReplyJob, exc: BaseException, error: DomainError) -> None:
        what = f"{job.kind} reply of replica {job.replica_id} to {job.reply_to} (client id {job.client_id})"
        if isinstance(error, NotReady):
            self._outage(exc)
        elif isinstance(error, (ReplicaUnavailable, ReplicaRejected)):
            logger.warning("%s failed: %s", what, exc, exc_info=exc)
        else:
            logger.error("%s failed", what, exc_info=exc)
