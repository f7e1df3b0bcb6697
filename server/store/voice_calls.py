"""The ``voice_calls``, ``voice_lines`` and ``voice_pins`` tables: Pure Voice calls, their transcripts, the PIN.

Talk time is counted from stored timestamps: ``counted_at`` is how far a call's ``talk_seconds`` have been
counted. Whoever counts (a sweep, a hang-up) adds the time since ``counted_at`` only when it is at most
``grace`` seconds: a longer gap means no process was alive to count it (downtime), and it is not talk time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

import msgspec

from .errors import NotFound
from .records import from_row
from .users import Executor

CallStatus = Literal["scheduled", "awaiting_pin", "active", "ended"]
Direction = Literal["app", "inbound", "outbound"]
EndReason = Literal["hung_up", "expired", "pin_failed", "canceled", "provider"]
Speaker = Literal["user", "replica"]
LineSource = Literal["text", "audio", "replica"]

_COLUMNS = (
    "id, replica_id, direction, status, peer_number, provider_sid, purpose, scheduled_for, started_at, ended_at, "
    "talk_seconds, duration_seconds, end_reason"
)
_LINE_COLUMNS = "call_id, seq, speaker, source, text, answers, created_at"
_TALKING = "status IN ('awaiting_pin', 'active')"


def _counted(grace: str) -> str:
    """The talk seconds counted up to now (``grace``: the SQL of the longest gap that still counts, in seconds)."""
    return (
        f"talk_seconds + CASE WHEN now() - counted_at <= make_interval(secs => {grace})"
        " THEN greatest(extract(epoch FROM now() - counted_at), 0) ELSE 0 END"
    )


class VoiceCall(msgspec.Struct, frozen=True):
    id: UUID
    replica_id: str
    direction: Direction
    """``app``: started in the app; ``inbound``: came in through the telephony provider; ``outbound``: scheduled."""
    status: CallStatus
    peer_number: str | None
    """The other party's number: the caller (inbound) or the number called (outbound)."""
    provider_sid: str | None
    """The telephony provider's id of the call (``/api/mock/telephony/calls/{sid}``)."""
    purpose: str | None
    scheduled_for: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    talk_seconds: float
    """Talk time counted so far (downtime of the server does not count)."""
    duration_seconds: float | None
    end_reason: EndReason | None


class Line(msgspec.Struct, frozen=True):
    """One line of a call's transcript."""

    call_id: UUID
    seq: int
    speaker: Speaker
    source: LineSource
    """``text`` (typed), ``audio`` (recognised speech) or ``replica`` (the replica's answer)."""
    text: str
    answers: int | None
    """The ``seq`` of the line this replica line answers (0: the replica opened an outbound call)."""
    created_at: datetime


class DueCall(msgspec.Struct, frozen=True):
    """A call a sweep settled, with its owner."""

    user_id: UUID
    call: VoiceCall


async def start_call(db: Executor, user_id: UUID, replica_id: str) -> VoiceCall:
    """A call started in the app: active at once."""
    row = await db.fetchrow(
        f"INSERT INTO voice_calls (user_id, replica_id, counted_at) VALUES ($1, $2, now()) RETURNING {_COLUMNS}",
        user_id,
        replica_id,
    )
    return from_row(VoiceCall, row)


async def open_inbound(
    db: Executor, user_id: UUID, replica_id: str, caller: str, sid: str, *, verified_caller: bool = False
) -> VoiceCall:
    """A call that came in through the provider (``sid``): it waits for the caller's PIN, or is active at once
    when it comes from the user's verified number."""
    row = await db.fetchrow(
        f"""
        INSERT INTO voice_calls (user_id, replica_id, direction, status, peer_number, provider_sid, counted_at)
        VALUES ($1, $2, 'inbound', CASE WHEN $5 THEN 'active' ELSE 'awaiting_pin' END, $3, $4, now())
        RETURNING {_COLUMNS}
        """,
        user_id,
        replica_id,
        caller,
        sid,
        verified_caller,
    )
    return from_row(VoiceCall, row)


async def schedule_call(
    db: Executor, user_id: UUID, replica_id: str, to: str, purpose: str | None, when: datetime
) -> VoiceCall:
    row = await db.fetchrow(
        f"""
        INSERT INTO voice_calls (user_id, replica_id, direction, status, peer_number, purpose, scheduled_for,
                                 started_at)
        VALUES ($1, $2, 'outbound', 'scheduled', $3, $4, $5, NULL)
        RETURNING {_COLUMNS}
        """,
        user_id,
        replica_id,
        to,
        purpose,
        when,
    )
    return from_row(VoiceCall, row)


async def claim_due(db: Executor, limit: int) -> list[DueCall]:
    """Make due scheduled calls active and return them; rows another transaction holds are skipped, so each is
    placed by exactly one caller (call inside the transaction that places it)."""
    rows = await db.fetch(
        f"""
        UPDATE voice_calls SET status = 'active', started_at = now(), counted_at = now() WHERE id IN (
            SELECT id FROM voice_calls WHERE status = 'scheduled' AND scheduled_for <= now()
            ORDER BY scheduled_for LIMIT $1 FOR UPDATE SKIP LOCKED
        ) RETURNING user_id, {_COLUMNS}
        """,
        limit,
    )
    due = [DueCall(row["user_id"], from_row(VoiceCall, row)) for row in rows]
    return sorted(due, key=lambda d: (d.call.scheduled_for, d.call.id))


async def set_provider_sid(db: Executor, call_id: UUID, sid: str) -> None:
    await db.execute("UPDATE voice_calls SET provider_sid = $2 WHERE id = $1", call_id, sid)


async def count_talk(db: Executor, grace: float) -> None:
    """Count the talk time of every open call up to now (calls another transaction holds are counted by it)."""
    await db.execute(
        f"""
        UPDATE voice_calls SET talk_seconds = {_counted("$1")}, counted_at = greatest(counted_at, now())
        WHERE id IN (SELECT id FROM voice_calls WHERE {_TALKING} FOR UPDATE SKIP LOCKED)
        """,
        grace,
    )


async def claim_expired(db: Executor, max_seconds: float, limit: int) -> list[DueCall]:
    """End the open calls whose counted talk time reached ``max_seconds``, and return them."""
    rows = await db.fetch(
        f"""
        UPDATE voice_calls
        SET status = 'ended', end_reason = 'expired', ended_at = now(), duration_seconds = talk_seconds,
            counted_at = NULL
        WHERE id IN (
            SELECT id FROM voice_calls WHERE {_TALKING} AND talk_seconds >= $1
            ORDER BY counted_at LIMIT $2 FOR UPDATE SKIP LOCKED
        ) RETURNING user_id, {_COLUMNS}
        """,
        max_seconds,
        limit,
    )
    return [DueCall(row["user_id"], from_row(VoiceCall, row)) for row in rows]


async def get_call(db: Executor, user_id: UUID, call_id: UUID) -> VoiceCall:
    """The user's call; :class:`NotFound` for an unknown id or another user's call."""
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM voice_calls WHERE id = $1 AND user_id = $2", call_id, user_id)
    if row is None:
        raise NotFound("call not found")
    return from_row(VoiceCall, row)


async def end_call(db: Executor, user_id: UUID, call_id: UUID, reason: EndReason, grace: float) -> VoiceCall | None:
    """End an open call, counting its talk time up to now; a scheduled call is canceled (no talk time);
    ``None`` when it is over already (or not the user's)."""
    row = await db.fetchrow(
        f"""
        UPDATE voice_calls
        SET status = 'ended', ended_at = now(), counted_at = NULL,
            end_reason = CASE WHEN status = 'scheduled' THEN 'canceled' ELSE $3 END,
            talk_seconds = CASE WHEN status = 'scheduled' THEN 0 ELSE {_counted("$4")} END,
            duration_seconds = CASE WHEN status = 'scheduled' THEN 0 ELSE {_counted("$4")} END
        WHERE id = $1 AND user_id = $2 AND status <> 'ended'
        RETURNING {_COLUMNS}
        """,
        call_id,
        user_id,
        reason,
        grace,
    )
    return from_row(VoiceCall, row) if row else None


async def pin_passed(db: Executor, call_id: UUID) -> None:
    await db.execute("UPDATE voice_calls SET status = 'active' WHERE id = $1 AND status = 'awaiting_pin'", call_id)


async def pin_failed(db: Executor, call_id: UUID) -> int:
    """Count a wrong PIN on a call waiting for one; the attempts made so far (0: the call no longer waits)."""
    attempts: int | None = await db.fetchval(
        "UPDATE voice_calls SET pin_attempts = pin_attempts + 1 WHERE id = $1 AND status = 'awaiting_pin'"
        " RETURNING pin_attempts",
        call_id,
    )
    return attempts or 0


async def list_calls(db: Executor, user_id: UUID, limit: int = 50) -> list[VoiceCall]:
    rows = await db.fetch(
        f"""
        SELECT {_COLUMNS} FROM voice_calls WHERE user_id = $1
        ORDER BY coalesce(started_at, scheduled_for) DESC, id LIMIT $2
        """,
        user_id,
        limit,
    )
    return [from_row(VoiceCall, row) for row in rows]


async def set_pin(db: Executor, user_id: UUID, pin_hash: str) -> None:
    await db.execute(
        """
        INSERT INTO voice_pins (user_id, pin_hash) VALUES ($1, $2)
        ON CONFLICT (user_id) DO UPDATE SET pin_hash = EXCLUDED.pin_hash, updated_at = now()
        """,
        user_id,
        pin_hash,
    )


async def pin_hash(db: Executor, user_id: UUID) -> str | None:
    value: str | None = await db.fetchval("SELECT pin_hash FROM voice_pins WHERE user_id = $1", user_id)
    return value


async def add_line(
    db: Executor,
    user_id: UUID,
    call_id: UUID,
    speaker: Speaker,
    source: LineSource,
    text: str,
    answers: int | None = None,
) -> Line:
    """Append a line to the user's call (numbered after the call's last one, also under concurrent lines)."""
    row = await db.fetchrow(
        f"""
        WITH call AS (
            UPDATE voice_calls SET lines = lines + 1 WHERE id = $1 AND user_id = $2 RETURNING id, lines
        )
        INSERT INTO voice_lines (call_id, seq, user_id, speaker, source, text, answers)
        SELECT id, lines, $2, $3, $4, $5, $6 FROM call
        RETURNING {_LINE_COLUMNS}
        """,
        call_id,
        user_id,
        speaker,
        source,
        text,
        answers,
    )
    if row is None:
        raise NotFound("call not found")
    return from_row(Line, row)


async def answer_to(db: Executor, call_id: UUID, seq: int) -> Line | None:
    """The replica line answering line ``seq`` of the call, if it was kept."""
    row = await db.fetchrow(
        f"SELECT {_LINE_COLUMNS} FROM voice_lines WHERE call_id = $1 AND answers = $2", call_id, seq
    )
    return from_row(Line, row) if row else None


async def list_lines(db: Executor, user_id: UUID, call_id: UUID, *, after: int, limit: int) -> list[Line]:
    """A page of the user's call transcript in order, from the line after ``after``."""
    rows = await db.fetch(
        f"""
        SELECT {_LINE_COLUMNS} FROM voice_lines WHERE call_id = $1 AND user_id = $2 AND seq > $3
        ORDER BY seq LIMIT $4
        """,
        call_id,
        user_id,
        after,
        limit,
    )
    return [from_row(Line, row) for row in rows]
