"""Where a room turn's reply is kept: a replica message of ``room_messages`` answering the message before it."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from protocol import ErrorCode, ServerFrame

from ..context import briefing
from ..replies import Reply, ReplyJob, RoomAudience, StreamReplies
from ..store import rooms


class RoomReplies(StreamReplies):
    """A room turn is a replica message of ``room_messages`` answering the message before it."""

    @staticmethod
    def stopped(detail: str) -> str:
        """What a room hears when its turns stop on a failure (the detail says whether sending again helps)."""
        return f"the room's turns stopped: {detail}"

    def failed(self, job: ReplyJob, code: ErrorCode, detail: str) -> ServerFrame | None:
        return super().failed(job, code, self.stopped(detail))

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def existing(self, job: ReplyJob) -> Reply | None:
        """The turn's reply stored by an earlier (failed) run of the same message."""
        assert isinstance(job.audience, RoomAudience) and job.reply_to is not None
        found = await rooms.reply_of(self.pool, job.audience.room_id, UUID(job.reply_to), job.replica_id)
        return Reply(content=found.message, message=found.wire()) if found is not None else None

    async def store(self, job: ReplyJob, content: str) -> Reply:
        assert isinstance(job.audience, RoomAudience) and job.reply_to is not None
        kept, _ = await rooms.append_message(
            self.pool,
            job.audience.room_id,
            sender="replica",
            content=content,
            replica_id=job.replica_id,
            reply_to=UUID(job.reply_to),
        )
        await briefing.kept(self.pool, job)
        return Reply(content=content, message=kept.wire())
