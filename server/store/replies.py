"""Reply rows in PostgreSQL: pending → running (holder, lease) → done | failed, claimed with a lease.

A process records and claims a reply in one upsert (:func:`take`), or claims an existing one with
``FOR UPDATE SKIP LOCKED``, so exactly one process holds it; it renews the lease
while it works. A reply whose lease ran out (its process died, or lost the database) may be claimed by any
process. Plain SQL on asyncpg: the lease is five statements, smaller than any job-queue library, and lives
in the same database as the messages it answers. A process that stops hands its work back (``release``).
The job is kept as JSON; ``server.replies.leases`` binds these functions to its job type.

A reply stored with its row settled in the same statement (:func:`settling`) is ``done`` but not yet published:
its holder keeps the lease until it records the publication (:func:`finish_many`); should it die in between,
the row's lease runs out and whoever sweeps it up next publishes the stored reply.
"""

from __future__ import annotations

import enum
import os
import socket
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Generic, NamedTuple, Protocol, TypeVar

import asyncpg
import msgspec


class Work(Protocol):
    """What a row needs of a job: the kind of reply and the id of what it answers (with ``kind``, its key)."""

    @property
    def kind(self) -> str: ...

    @property
    def reply_to(self) -> str | None: ...


J = TypeVar("J", bound=msgspec.Struct)


class ReplyState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Claim(NamedTuple, Generic[J]):
    """A reply this process now holds: its job, the attempt number, and when Sensay was first asked (if ever)."""

    job: J
    attempt: int
    asked_at: datetime | None
    noted: bool = False
    """The claim itself recorded that Sensay is being asked from now on (:func:`take` with ``asking``)."""


class Outcome(NamedTuple):
    """A reply's stored state, and how it failed (``code`` etc. are ``None`` unless it failed)."""

    state: ReplyState
    lease_expired: bool
    code: str | None
    retryable: bool | None
    retry_after: float | None
    detail: str | None


def holder_name() -> str:
    """A name for this process, unique across hosts and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


_CLAIMED = "RETURNING r.job, r.attempts, r.asked_at"


async def submit(pool: asyncpg.Pool, job: Work, lease: float) -> None:
    """Record that ``job`` awaits its reply; a failed reply becomes pending again (the user sent it again, so
    Sensay is asked afresh)."""
    await pool.execute(
        """
        INSERT INTO replies (kind, reply_to, job, lease_until) VALUES ($1, $2, $3, now() + make_interval(secs => $4))
        ON CONFLICT (kind, reply_to) DO UPDATE
            SET state = 'pending', job = EXCLUDED.job, lease_until = EXCLUDED.lease_until, holder = NULL,
                asked_at = NULL, code = NULL, retryable = NULL, retry_after = NULL, detail = NULL, updated_at = now()
            WHERE replies.state = 'failed'
        """,
        job.kind,
        job.reply_to,
        msgspec.json.encode(job).decode(),
        lease,
    )


async def take(
    pool: asyncpg.Pool, job_type: type[J], job: Work, holder: str, lease: float, *, asking: bool
) -> Claim[J] | None:
    """:func:`submit` and :func:`claim` in one statement (and, with ``asking``, :func:`asked` too, for a claimant
    that asks Sensay at once); ``None`` when another process holds the reply or it ended."""
    row = await pool.fetchrow(
        """
        INSERT INTO replies AS r (kind, reply_to, job, state, holder, lease_until, attempts, asked_at)
        VALUES ($1, $2, $3, 'running', $4, now() + make_interval(secs => $5), 1, CASE WHEN $6 THEN now() END)
        ON CONFLICT (kind, reply_to) DO UPDATE
            SET state = 'running', holder = EXCLUDED.holder, lease_until = EXCLUDED.lease_until,
                attempts = r.attempts + 1, updated_at = now(),
                job = CASE WHEN r.state = 'failed' THEN EXCLUDED.job ELSE r.job END,
                asked_at = CASE WHEN r.state = 'failed' THEN EXCLUDED.asked_at
                                ELSE coalesce(r.asked_at, EXCLUDED.asked_at) END,
                code = NULL, retryable = NULL, retry_after = NULL, detail = NULL
            WHERE r.state IN ('pending', 'failed') OR (r.state = 'running' AND r.lease_until < now())
        RETURNING r.job, r.attempts, nullif(r.asked_at, now()) AS asked_at, r.asked_at = now() AS noted
        """,
        job.kind,
        job.reply_to,
        msgspec.json.encode(job).decode(),
        holder,
        lease,
        asking,
    )
    return _claim(row, job_type) if row is not None else None


async def claim(
    pool: asyncpg.Pool, job_type: type[J], kind: str, reply_to: str, holder: str, lease: float
) -> Claim[J] | None:
    """Take the reply if it is pending or its lease ran out; ``None`` when another process holds it or it ended."""
    row = await pool.fetchrow(
        f"""
        WITH c AS (
            SELECT kind, reply_to FROM replies
            WHERE kind = $1 AND reply_to = $2
              AND (state = 'pending' OR (state = 'running' AND lease_until < now()))
            FOR UPDATE SKIP LOCKED
        )
        UPDATE replies r SET state = 'running', holder = $3, lease_until = now() + make_interval(secs => $4),
            attempts = r.attempts + 1, updated_at = now()
        FROM c WHERE r.kind = c.kind AND r.reply_to = c.reply_to
        {_CLAIMED}
        """,
        kind,
        reply_to,
        holder,
        lease,
    )
    return _claim(row, job_type) if row is not None else None


async def claim_expired(
    pool: asyncpg.Pool, job_type: type[J], kinds: list[str], holder: str, lease: float, limit: int
) -> list[Claim[J]]:
    """Take up to ``limit`` replies of ``kinds`` whose lease ran out: their process died or lost the database
    (also stored ones it died before publishing)."""
    rows = await pool.fetch(
        f"""
        WITH c AS (
            SELECT kind, reply_to FROM replies
            WHERE (state IN ('pending', 'running') OR (state = 'done' AND published_at IS NULL))
              AND lease_until < now() AND kind = ANY($1::text[])
            ORDER BY lease_until
            LIMIT $4
            FOR UPDATE SKIP LOCKED
        )
        UPDATE replies r SET state = 'running', holder = $2, lease_until = now() + make_interval(secs => $3),
            attempts = r.attempts + 1, updated_at = now()
        FROM c WHERE r.kind = c.kind AND r.reply_to = c.reply_to
        {_CLAIMED}
        """,
        kinds,
        holder,
        lease,
        limit,
    )
    return [_claim(row, job_type) for row in rows]


async def renew(pool: asyncpg.Pool, job: Work, holder: str, lease: float) -> bool:
    """Extend the lease; ``False`` when this process no longer holds the reply (another took it over)."""
    renewed = await pool.fetchval(
        """
        UPDATE replies SET lease_until = now() + make_interval(secs => $4)
        WHERE kind = $1 AND reply_to = $2 AND holder = $3
          AND (state = 'running' OR (state = 'done' AND published_at IS NULL))
        RETURNING true
        """,
        job.kind,
        job.reply_to,
        holder,
        lease,
    )
    return bool(renewed)


async def asked(pool: asyncpg.Pool, job: Work, holder: str) -> bool:
    """Note that Sensay is being asked (the first time); ``False`` when this process lost the reply."""
    noted = await pool.fetchval(
        """
        UPDATE replies SET asked_at = coalesce(asked_at, now()), updated_at = now()
        WHERE kind = $1 AND reply_to = $2 AND holder = $3 AND state = 'running'
        RETURNING true
        """,
        job.kind,
        job.reply_to,
        holder,
    )
    return bool(noted)


def settling(kind: str, reply_to: str, holder: str, lease: str) -> str:
    """SQL (to run in the statement that stores the reply) recording a held reply as stored: ``done``, its lease
    renewed for ``lease`` seconds until its publication is recorded. The arguments are the statement's
    placeholders (``$n``); the update returns ``true`` when this process still held the reply."""
    return f"""
        UPDATE replies SET state = 'done', lease_until = now() + make_interval(secs => {lease}), updated_at = now()
        WHERE kind = {kind} AND reply_to = {reply_to} AND holder = {holder} AND state = 'running'
        RETURNING true
        """


async def finish(pool: asyncpg.Pool, job: Work, holder: str) -> None:
    """The reply is kept and was published to its audience: done (a stored reply of a row not yet done may never
    have been shown, and is published by whoever claims the row next)."""
    await finish_many(pool, [job], holder)


async def finish_many(pool: asyncpg.Pool, jobs: Sequence[Work], holder: str) -> None:
    """The replies are kept and were published to their audience: done, published, no longer held."""
    await pool.execute(
        """
        UPDATE replies r SET state = 'done', holder = NULL, published_at = now(), updated_at = now()
        FROM unnest($1::text[], $2::text[]) AS j(kind, reply_to)
        WHERE r.kind = j.kind AND r.reply_to = j.reply_to AND r.holder = $3
          AND (r.state = 'running' OR (r.state = 'done' AND r.published_at IS NULL))
        """,
        [job.kind for job in jobs],
        [job.reply_to for job in jobs],
        holder,
    )


async def release(pool: asyncpg.Pool, job: Work, holder: str) -> bool:
    """Hand the work back unfinished (this process stops): pending again, its lease over, so any process claims it
    at once. ``False`` when this process no longer held it."""
    released = await pool.fetchval(
        """
        UPDATE replies SET state = 'pending', holder = NULL, lease_until = now(), updated_at = now()
        WHERE kind = $1 AND reply_to = $2 AND holder = $3 AND state = 'running'
        RETURNING true
        """,
        job.kind,
        job.reply_to,
        holder,
    )
    return bool(released)


async def fail(
    pool: asyncpg.Pool,
    job: Work,
    holder: str,
    *,
    code: str,
    retryable: bool,
    retry_after: float | None,
    detail: str,
) -> None:
    """The reply failed with ``code``; sending its message again makes it pending again."""
    await pool.execute(
        """
        UPDATE replies SET state = 'failed', holder = NULL, code = $4, retryable = $5, retry_after = $6,
            detail = $7, updated_at = now()
        WHERE kind = $1 AND reply_to = $2 AND holder = $3 AND state = 'running'
        """,
        job.kind,
        job.reply_to,
        holder,
        code,
        retryable,
        retry_after,
        detail,
    )


async def outcome(pool: asyncpg.Pool, kind: str, reply_to: str) -> Outcome | None:
    """The reply's state (``None``: no such reply)."""
    row = await pool.fetchrow(
        """
        SELECT state, lease_until < now() AS expired, code, retryable, retry_after, detail
        FROM replies WHERE kind = $1 AND reply_to = $2
        """,
        kind,
        reply_to,
    )
    if row is None:
        return None
    state = ReplyState(row["state"])
    return Outcome(state, row["expired"], row["code"], row["retryable"], row["retry_after"], row["detail"])


def _claim(row: asyncpg.Record, job_type: type[J]) -> Claim[J]:
    noted = bool(row.get("noted"))
    return Claim(msgspec.json.decode(row["job"], type=job_type), row["attempts"], row["asked_at"], noted)


async def settle(
    pool: asyncpg.Pool,
    job: Work,
    state: ReplyState,
    *,
    code: str | None = None,
    retryable: bool | None = None,
    retry_after: float | None = None,
    detail: str | None = None,
) -> None:
    """Record how work that is not claimed through a lease ended (a room's run): ``done`` or ``failed``."""
    await pool.execute(
        """
        INSERT INTO replies (kind, reply_to, job, state, attempts, code, retryable, retry_after, detail)
        VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8)
        ON CONFLICT (kind, reply_to) DO UPDATE
            SET state = EXCLUDED.state, attempts = replies.attempts + 1, code = EXCLUDED.code,
                retryable = EXCLUDED.retryable, retry_after = EXCLUDED.retry_after, detail = EXCLUDED.detail,
                updated_at = now()
        """,
        job.kind,
        job.reply_to,
        msgspec.json.encode(job).decode(),
        state.value,
        code,
        retryable,
        retry_after,
        detail,
    )
