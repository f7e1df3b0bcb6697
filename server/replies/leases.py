"""Reply rows (:mod:`server.store.replies`) bound to :class:`~server.replies.jobs.ReplyJob`."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg

from ..store import replies as rows
from ..store.replies import Outcome, ReplyState, asked, fail, finish, holder_name, outcome, renew, settle, submit
from .jobs import ReplyJob

Claim: TypeAlias = rows.Claim[ReplyJob]

__all__ = [
    "Claim",
    "Outcome",
    "ReplyState",
    "asked",
    "claim",
    "claim_expired",
    "fail",
    "finish",
    "holder_name",
    "outcome",
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
