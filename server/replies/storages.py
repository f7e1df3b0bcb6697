"""Ready-made storages: replies kept as messages of a stream (chat, rooms), and replies only the caller sees."""

from __future__ import annotations

from protocol import ErrorCode, ErrorFrame, MessageFrame, NoticeFrame, ReplyDeltaFrame, ReplyStartedFrame, ServerFrame

from .jobs import Reply, ReplyJob


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
