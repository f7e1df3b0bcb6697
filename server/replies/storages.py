"""What a storage of replies is (:class:`ReplyStorage`, :class:`DurableStorage`), and ready-made ones: replies kept
as messages of a stream (chat, rooms), and replies only the caller sees."""

from __future__ import annotations

from typing import Protocol

from protocol import ErrorCode, ErrorFrame, MessageFrame, NoticeFrame, ReplyDeltaFrame, ReplyStartedFrame, ServerFrame

from .jobs import Reply, ReplyJob


class ReplyStorage(Protocol):
    """How one kind of reply is shown and kept."""

    async def existing(self, job: ReplyJob) -> Reply | None:
        """The reply if it was kept already (a job run again must not store it twice)."""
        ...

    def started(self, job: ReplyJob, restart: bool) -> ServerFrame | None:
        """The frame telling the audience a replica started on the reply (``restart``: drop earlier deltas)."""
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

    def delayed(self, job: ReplyJob, detail: str) -> ServerFrame | None:
        """The notice telling the audience the reply waits for an outage to end (``None``: nobody to tell)."""
        ...


class DurableStorage(ReplyStorage, Protocol):
    """A storage whose replies are rows held through a lease: it settles the row in the round trip that keeps the
    reply."""

    async def store_held(self, job: ReplyJob, content: str, holder: str, lease: float) -> Reply:
        """Keep the finished reply and, in the same round trip, settle its row if ``holder`` still holds it
        (``done``, its lease renewed for ``lease`` seconds until it is recorded as published)."""
        ...


class StreamReplies:
    """The frames of a reply that becomes a message of ``job.stream``; subclasses say how it is stored.

    A start is a ``reply.started`` frame, deltas are ``reply.delta`` frames, the kept reply a ``message`` frame,
    a failure an ``error`` frame carrying the asking frame's id and the stream, a delay a ``notice``.
    """

    failure_detail: str | None = None
    """What the error frame says instead of the error's own detail (``None``: the detail)."""

    async def existing(self, job: ReplyJob) -> Reply | None:
        return None

    def started(self, job: ReplyJob, restart: bool) -> ServerFrame | None:
        assert job.stream is not None and job.reply_to is not None, "a stream reply answers a message of a stream"
        return ReplyStartedFrame(stream=job.stream, reply_to=job.reply_to, replica_id=job.replica_id, restart=restart)

    def delta(self, job: ReplyJob, index: int, text: str) -> ServerFrame | None:
        assert job.stream is not None and job.reply_to is not None, "a stream reply answers a message of a stream"
        return ReplyDeltaFrame(
            stream=job.stream, reply_to=job.reply_to, replica_id=job.replica_id, index=index, text=text
        )

    def shown(self, job: ReplyJob, reply: Reply) -> ServerFrame | None:
        return MessageFrame(message=reply.message) if reply.message is not None else None

    def failed(self, job: ReplyJob, code: ErrorCode, detail: str) -> ServerFrame | None:
        return ErrorFrame(
            code=code,
            message=self.failure_detail or detail,
            id=job.client_id,
            retryable=code.retryable,
            stream=job.stream,
        )

    def delayed(self, job: ReplyJob, detail: str) -> ServerFrame | None:
        return NoticeFrame(
            code=ErrorCode.REPLY_DELAYED, message=detail, id=job.client_id, stream=job.stream, reply_to=job.reply_to
        )


class CallerReplies:
    """Replies only their caller sees and keeps (e.g. a task-memory answer recorded with its action)."""

    async def existing(self, job: ReplyJob) -> Reply | None:
        return None

    def started(self, job: ReplyJob, restart: bool) -> ServerFrame | None:
        return None

    def delta(self, job: ReplyJob, index: int, text: str) -> ServerFrame | None:
        return None

    async def store(self, job: ReplyJob, content: str) -> Reply:
        return Reply(content=content)

    def shown(self, job: ReplyJob, reply: Reply) -> ServerFrame | None:
        return None

    def failed(self, job: ReplyJob, code: ErrorCode, detail: str) -> ServerFrame | None:
        return None

    def delayed(self, job: ReplyJob, detail: str) -> ServerFrame | None:
        return None
