"""The lease on real PostgreSQL: one claimant among many, expired leases taken once, a lost lease is known."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from server.replies import ReplyJob, leases
from server.replies.leases import ReplyState


def job(reply_to: str | None = None) -> ReplyJob:
    return ReplyJob(
        kind="chat", asker="someone", replica_id="r", prompt="hi", audience=None, reply_to=reply_to or str(uuid.uuid4())
    )


async def test_only_one_of_many_concurrent_claims_wins(pool: asyncpg.Pool) -> None:
    """Twenty processes claiming the same reply at once: exactly one holds it."""
    work = job()
    await leases.submit(pool, work, 10)
    claims = await asyncio.gather(*(leases.claim(pool, "chat", work.reply_to or "", f"p{i}", 10) for i in range(20)))
    assert len([c for c in claims if c is not None]) == 1
    for _ in range(3):
        assert await leases.claim(pool, "chat", work.reply_to or "", "late", 10) is None


async def test_expired_leases_are_swept_once_and_the_old_holder_knows_it_lost(pool: asyncpg.Pool) -> None:
    """Sweepers racing for expired replies split them without overlap; the dead holder's renewal fails."""
    jobs = [job() for _ in range(12)]
    for work in jobs:
        await leases.submit(pool, work, 0.01)
        assert await leases.claim(pool, "chat", work.reply_to or "", "dead", 0.01) is not None
    await asyncio.sleep(0.05)
    swept = await asyncio.gather(*(leases.claim_expired(pool, ["chat"], f"sweeper{i}", 10, 5) for i in range(4)))
    taken = [claim.job.reply_to for claims in swept for claim in claims]
    assert sorted(taken) == sorted(w.reply_to for w in jobs)
    assert all(claim.attempt == 2 for claims in swept for claim in claims)
    assert not await leases.renew(pool, jobs[0], "dead", 10)


async def test_a_failed_reply_is_pending_again_when_submitted_again(pool: asyncpg.Pool) -> None:
    """A failure is kept with its code; the same job submitted again is claimable, a finished one is not."""
    work = job()
    await leases.submit(pool, work, 10)
    assert await leases.claim(pool, "chat", work.reply_to or "", "p", 10) is not None
    assert await leases.asked(pool, work, "p")
    await leases.fail(pool, work, "p", code="replica_unavailable", retryable=True, retry_after=30.0, detail="down")
    outcome = await leases.outcome(pool, "chat", work.reply_to or "")
    assert outcome is not None
    assert (outcome.state, outcome.code, outcome.retryable, outcome.retry_after) == (
        ReplyState.FAILED,
        "replica_unavailable",
        True,
        30.0,
    )
    await leases.submit(pool, work, 10)
    again = await leases.claim(pool, "chat", work.reply_to or "", "q", 10)
    assert again is not None and again.attempt == 2 and again.asked_at is None
    await leases.finish(pool, work, "q")
    await leases.submit(pool, work, 10)
    assert await leases.claim(pool, "chat", work.reply_to or "", "r", 10) is None


async def test_take_records_claims_and_notes_the_asking_in_one_statement(pool: asyncpg.Pool) -> None:
    """A new reply is taken at once, noted as being asked (no earlier asking to look for); a held one is not taken
    again; a failed one is taken again afresh; one whose holder died after asking is taken with that time, to look
    in Sensay's history first."""
    work = job()
    taken = await leases.rows.take(pool, ReplyJob, work, "p", 10, asking=True)
    assert taken is not None and (taken.attempt, taken.asked_at, taken.noted) == (1, None, True)
    assert await leases.rows.take(pool, ReplyJob, work, "q", 10, asking=True) is None
    await leases.fail(pool, work, "p", code="replica_unavailable", retryable=True, retry_after=None, detail="down")
    again = await leases.rows.take(pool, ReplyJob, work, "q", 0.01, asking=True)
    assert again is not None and (again.attempt, again.asked_at, again.noted) == (2, None, True)
    await asyncio.sleep(0.05)  # q dies: its lease runs out
    after = await leases.rows.take(pool, ReplyJob, work, "r", 10, asking=True)
    assert after is not None and after.attempt == 3 and after.asked_at is not None and not after.noted
    outcome = await leases.outcome(pool, "chat", work.reply_to or "")
    assert outcome is not None and outcome.state is ReplyState.RUNNING
