"""One replica conversation turn: store the user's message, have the replica answer through the reply pipeline,
keep the answer.

Below the services: chat (the socket and ``POST /api/conversations``) and the prototypes that talk to a replica
(Task Memory's chat action, the MCP ``ask_replica`` tool) share it, so no service calls another. A reply runs in a
task owned by the reply pipeline, not by a socket, so it is finished and stored even when every socket of the user
is gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import NamedTuple
from uuid import UUID

import asyncpg

from protocol import MessageFrame, StoredMessage

from ..errors import ClientIdConflict, DomainError, error_code
from ..hub.hub import Hub
from ..outages import unreachable, while_unreachable
from ..replies import ReplicaDirectory, Replies, Reply, ReplyJob, StreamReplies, UserAudience, faults
from ..replies.failures import replica_failure
from ..replies.pipeline import DELAYED
from ..store import conversations
from ..store.records import Message
from ..store.users import Executor
from . import briefing, task_list

KIND = "chat"
OUTAGE_PATIENCE = 60.0
OUTAGE_RETRY_SECONDS = 1.0
ORPHAN_HORIZON = 7 * 24 * 3600.0
ORPHAN_TRIES = 5
"""Sweeps of this process that may fail to make an orphaned message's reply job before its reply is settled as
failed (and the user told), rather than tried again every sweep until the message leaves ``ORPHAN_HORIZON``."""
"""Seconds back the reply sweeper looks for acked messages whose reply was never recorded (older ones are left)."""

logger = logging.getLogger(__name__)


def _bare_job(message: StoredMessage, user_id: UUID) -> ReplyJob:
    """Enough of a reply job to address its frames (no prompt yet)."""
    assert message.replica_id is not None
    return ReplyJob(
        kind=KIND,
        asker=str(user_id),
        replica_id=message.replica_id,
        prompt="",
        audience=UserAudience(user_id),
        stream=message.stream,
        reply_to=message.id,
        client_id=message.client_id,
    )


class Accepted(NamedTuple):
    """A stored user message, and whether its client id had stored it before."""

    message: StoredMessage
    duplicate: bool
    commanded: bool = True
    """Whether the message may have given a task command (``False``: it gave none, no outcome to look up)."""


class Conversation(NamedTuple):
    """A user message and the replica's reply to it."""

    message: StoredMessage
    reply: StoredMessage
    duplicate: bool


class ChatReplies(StreamReplies):
    """Chat replies are rows of ``conversations`` answering the user's message (one reply per message)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def existing(self, job: ReplyJob) -> Reply | None:
        assert job.reply_to is not None
        found = await conversations.get_reply(self.pool, UUID(job.reply_to))
        return Reply(content=found.message, message=found.wire()) if found is not None else None

    async def store(self, job: ReplyJob, content: str) -> Reply:
        return await self._append(job, content, None)

    async def store_held(self, job: ReplyJob, content: str, holder: str, lease: float) -> Reply:
        return await self._append(job, content, conversations.Held(job.kind, holder, lease))

    async def _append(self, job: ReplyJob, content: str, held: conversations.Held | None) -> Reply:
        """The reply, the context its prompt carried marked as seen, and its row settled: one round trip."""
        assert isinstance(job.audience, UserAudience) and job.reply_to is not None
        seen = conversations.Seen(job.asker, job.briefing) if job.briefing is not None else None
        kept = await conversations.append_reply(
            self.pool, job.audience.user_id, job.replica_id, UUID(job.reply_to), content, seen=seen, held=held
        )
        return Reply(content=kept.message.message, message=kept.message.wire())


class Conversations:
    """Replica conversation turns of users: a message stored (with its task command applied), its reply run."""

    def __init__(
        self, pool: asyncpg.Pool, hub: Hub, replies: Replies, replicas: ReplicaDirectory, *, task_timezone: str = "UTC"
    ) -> None:
        self.pool = pool
        self.hub = hub
        self.replies = replies
        self.replicas = replicas
        self.task_timezone = task_timezone
        """Where a due time said in chat ("tomorrow at 5pm") is read."""
        self.storage = ChatReplies(pool)
        replies.register_durable(KIND, self.storage)
        replies.adopt_with(KIND, self._orphans)
        self._orphan_failures: Counter[str] = Counter()
        """Failed attempts to make the reply job of each orphaned message (this process's)."""

    async def send(self, user_id: UUID, replica_id: str, content: str, client_id: str | None) -> Accepted:
        """Store the user's message, once per client id.

        What the message asks of the task list ("add task buy milk", "I called Bob", see the Task Memory
        prototype) is read here, once, and applied in the transaction that stores the message. Raises
        :class:`~server.errors.ReplicaNotFound` before storing anything when the replica cannot be found, and
        :class:`~server.errors.ClientIdConflict` when the client id stored another message.
        """
        await self.replicas.require(str(user_id), replica_id)
        request = task_list.read(content)

        async def apply(conn: Executor, message: Message) -> None:
            assert request is not None
            await task_list.apply_request(conn, user_id, message.id, request, self.task_timezone)

        message, duplicate = await conversations.append_user_message(
            self.pool, user_id, replica_id, content, client_id, within=apply if request is not None else None
        )
        if duplicate and (message.replica_id != replica_id or message.message != content):
            raise ClientIdConflict("this id was already used for a different message")
        # A duplicate's command was read when it was first stored (by whichever version ran then): look it up.
        return Accepted(message.wire(), duplicate, commanded=duplicate or request is not None)

    async def deliver(self, accepted: Accepted) -> asyncio.Task[Reply]:
        """Show a newly stored message on every socket of its user, and start (or join) its reply."""
        message = accepted.message
        assert message.user_id is not None and message.replica_id is not None
        user_id = UUID(message.user_id)
        faults.after_ack()
        if not accepted.duplicate:
            await self.hub.send_to_user(user_id, MessageFrame(message=message))
        return self.replies.start(await self._job_despite_outages(message, user_id, accepted.commanded))

    async def _job_despite_outages(self, message: StoredMessage, user_id: UUID, commanded: bool) -> ReplyJob:
        """The reply job. The message is stored and acked already: while the database does not answer, the user
        hears that the reply is delayed (a ``notice``) and the job is made again, for up to ``OUTAGE_PATIENCE``
        seconds (then the outage's error reaches the frame's id; the reply sweeper makes the reply once the database
        answers, as it does for a message whose process died before making it)."""
        told = False

        async def waiting(exc: BaseException) -> None:
            nonlocal told
            if not told:
                told = True
                notice = self.storage.delayed(_bare_job(message, user_id), DELAYED)
                if notice is not None:
                    await self.hub.send_to_user(user_id, notice)

        return await while_unreachable(
            lambda: self._job(message, user_id, commanded),
            patience=OUTAGE_PATIENCE,
            every=OUTAGE_RETRY_SECONDS,
            waiting=waiting,
        )

    async def _orphans(self, older_than: float, limit: int) -> list[ReplyJob]:
        """The reply jobs of acked messages whose process died before recording their reply (as :meth:`deliver`
        makes them), for the reply sweeper; a message whose job cannot be made is logged and looked at again."""
        jobs = []
        for found in await conversations.unanswered(self.pool, KIND, older_than, ORPHAN_HORIZON, limit):
            message = found.wire()
            assert message.user_id is not None
            try:
                faults.orphan_job()
                jobs.append(await self._job(message, UUID(message.user_id), commanded=True))
            except Exception as exc:
                if unreachable(exc):
                    raise
                await self._job_failed(message, UUID(message.user_id), exc)
        return jobs

    async def _job_failed(self, message: StoredMessage, user_id: UUID, exc: Exception) -> None:
        """Count a failure to make an orphan's reply job; after :data:`ORPHAN_TRIES` settle its reply as failed
        (a ``failed`` row with the cause's code: sending the same id again runs it) and tell the user's sockets."""
        self._orphan_failures[message.id] += 1
        tries = self._orphan_failures[message.id]
        if tries < ORPHAN_TRIES:
            logger.info(
                "the reply job of message %s could not be made (try %d of %d): %s", message.id, tries, ORPHAN_TRIES, exc
            )
            return
        del self._orphan_failures[message.id]
        error = replica_failure(exc)
        job = ReplyJob(
            kind=KIND,
            asker=str(user_id),
            replica_id=message.replica_id or "",
            prompt=message.content,
            audience=UserAudience(user_id),
            stream=message.stream,
            reply_to=message.id,
            client_id=message.client_id,
        )
        logger.warning(
            "the reply to message %s is settled as failed: its job could not be made in %d sweeps",
            message.id,
            ORPHAN_TRIES,
            exc_info=exc,
        )
        assert self.replies.leases is not None  # orphans are swept only with leases
        await self.replies.leases.settle(job, error, held=False)
        frame = self.storage.failed(job, error_code(error), error.detail)
        if frame is not None:
            await self.hub.send_to_user(user_id, frame)

    async def _job(self, message: StoredMessage, user_id: UUID, commanded: bool) -> ReplyJob:
        """``commanded``: the message may have given a task command (else it is known to have given none)."""
        assert message.replica_id is not None
        # The outcome was kept with the message when it was stored (the message is not read again); a message
        # known to give no command has none, and costs the turn no round trip.
        outcome = await task_list.command_outcome(self.pool, UUID(message.id)) if commanded else None
        # What the replica is told beyond the message (memories, evolution) travels with it when it has changed.
        # In the user's own chat the replica is told their open tasks too, so it can bring one up.
        briefed = await briefing.brief(
            self.pool, asker=str(user_id), user_id=user_id, replica_id=message.replica_id, with_tasks=True
        )
        if outcome is not None:
            # The replica is told what the command did, out of Sensay's history: the wrapper never becomes part
            # of the user's conversation there (our stream keeps the user's words and the reply). Such a turn sees
            # no earlier one, so it carries the whole context, and leaves nothing seen.
            outcome_prompt = task_list.outcome_prompt(message.content, outcome)
            prompt, seen = briefing.prompt_with(briefed, outcome_prompt, out_of_history=True), None
        else:
            prompt, seen = briefing.prompt_with(briefed, message.content), briefed.sent
        job = ReplyJob(
            kind=KIND,
            asker=str(user_id),
            replica_id=message.replica_id,
            prompt=prompt,
            audience=UserAudience(user_id),
            stream=message.stream,
            reply_to=message.id,
            client_id=message.client_id,
            skip_history=outcome is not None,
            briefing=seen,
        )
        return job

    async def converse(self, user_id: UUID, replica_id: str, content: str, client_id: str | None) -> Conversation:
        """Send a message and wait for the reply (for clients without a socket).

        When the reply fails, the raised error carries the stored ``message`` (sending the same client id
        again retries it).
        """
        accepted = await self.send(user_id, replica_id, content, client_id)
        try:
            reply = await asyncio.shield(await self.deliver(accepted))
        except DomainError as exc:
            retryable = error_code(exc).retryable
            advice = "send the same client_id again to retry" if retryable else "sending it again will not help"
            raise type(exc)(
                f"the message is stored but the replica could not answer; {advice}",
                message=accepted.message,
                retryable=retryable,
                retry_after=exc.retry_after,
            ) from exc
        assert reply.message is not None
        return Conversation(accepted.message, reply.message, accepted.duplicate)
