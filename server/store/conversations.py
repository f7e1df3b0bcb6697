"""The ``conversations`` table: chat messages in per-(user, replica) streams with gap-free sequence numbers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NamedTuple
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from .records import Message, Sender, from_row
from .replies import settling
from .users import Executor

_COLUMNS = 'id, user_id, replica_id, seq, sender, message, "timestamp", client_id, reply_to'


# One statement: the upsert locks the stream's counter row until commit, so sequence numbers are gap-free and
# become visible in order (a later seq never commits before an earlier one), at one round trip per message.
_APPEND = f"""
WITH counter AS (
    INSERT INTO conversation_streams (user_id, replica_id, last_seq) VALUES ($1, $2, 1)
    ON CONFLICT (user_id, replica_id) DO UPDATE SET last_seq = conversation_streams.last_seq + 1
    RETURNING last_seq
)
INSERT INTO conversations (user_id, replica_id, seq, sender, message, client_id, reply_to)
SELECT $1, $2, last_seq, $3, $4, $5, $6 FROM counter RETURNING {_COLUMNS}
"""


# A reply, in one round trip: stored as above, the context its prompt carried marked as seen by the replica, and
# its held row settled (done, to be published); each part is skipped when its parameters are NULL.
_APPEND_REPLY = f"""
WITH counter AS (
    INSERT INTO conversation_streams (user_id, replica_id, last_seq) VALUES ($1, $2, 1)
    ON CONFLICT (user_id, replica_id) DO UPDATE SET last_seq = conversation_streams.last_seq + 1
    RETURNING last_seq
), kept AS (
    INSERT INTO conversations (user_id, replica_id, seq, sender, message, reply_to)
    SELECT $1, $2, last_seq, 'replica', $3, $4::uuid FROM counter RETURNING {_COLUMNS}
), seen AS (
    INSERT INTO replica_briefings (asker, replica_id, fingerprint)
    SELECT $5, $2, $6 FROM kept WHERE $6::text IS NOT NULL
    ON CONFLICT (asker, replica_id) DO UPDATE SET fingerprint = excluded.fingerprint, seen_at = now()
), settled AS ({settling("$7", "$4::text", "$8", "$9")})
SELECT kept.*, EXISTS (SELECT FROM settled) AS settled FROM kept
"""


class Seen(NamedTuple):
    """The replica has seen the context with ``fingerprint`` in its conversation with ``asker``."""

    asker: str
    fingerprint: str


class StoredReply(NamedTuple):
    """A stored reply, and whether its held row was settled with it."""

    message: Message
    settled: bool


class Held(NamedTuple):
    """The reply's row held by ``holder`` (kind ``kind``), to settle with it; the lease runs ``lease`` seconds on."""

    kind: str
    holder: str
    lease: float


async def _append(
    db: Executor,
    user_id: UUID,
    replica_id: str,
    sender: Sender,
    content: str,
    client_id: str | None,
    reply_to: UUID | None,
) -> Message:
    row = await db.fetchrow(_APPEND, user_id, replica_id, sender, content, client_id, reply_to)
    return from_row(Message, row)


async def append_user_message(
    pool: asyncpg.Pool,
    user_id: UUID,
    replica_id: str,
    content: str,
    client_id: str | None,
    *,
    within: Callable[[PoolConnectionProxy, Message], Awaitable[object]] | None = None,
) -> tuple[Message, bool]:
    """Store a user's message; return it and whether it was already stored under this client id.

    ``within`` runs in the storing transaction when the message is new (what the message does lands with it, or
    neither does). Without it, storing is one round trip.
    """
    async with pool.acquire() as conn:
        try:
            if within is None:
                return await _append(conn, user_id, replica_id, "user", content, client_id, None), False
            async with conn.transaction():
                message = await _append(conn, user_id, replica_id, "user", content, client_id, None)
                await within(conn, message)
                return message, False
        except asyncpg.UniqueViolationError:
            # This client id stored a message before (a repeat, or a concurrent send that won): answer with it.
            existing = await get_by_client_id(conn, user_id, client_id) if client_id else None
            if existing is None:
                raise
            return existing, True


async def append_reply(
    pool: asyncpg.Pool,
    user_id: UUID,
    replica_id: str,
    reply_to: UUID,
    content: str,
    *,
    seen: Seen | None = None,
    held: Held | None = None,
) -> StoredReply:
    """Store the replica's reply to message ``reply_to`` and, in the same round trip, record ``seen`` and settle
    the ``held`` reply row (see :func:`server.store.replies.settling`). A second reply to the same message is not
    stored (nor anything else done): the first is returned, unsettled."""
    briefing = seen or Seen("", "")
    try:
        row = await pool.fetchrow(
            _APPEND_REPLY,
            user_id,
            replica_id,
            content,
            reply_to,
            briefing.asker or None,
            briefing.fingerprint or None,
            held.kind if held else None,
            held.holder if held else None,
            held.lease if held else None,
        )
    except asyncpg.UniqueViolationError:
        existing = await get_reply(pool, reply_to)
        if existing is None:
            raise
        return StoredReply(existing, False)
    assert row is not None, "the reply's insert returns its row"
    return StoredReply(from_row(Message, row), bool(row["settled"]))


async def get_by_client_id(db: Executor, user_id: UUID, client_id: str) -> Message | None:
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM conversations WHERE user_id = $1 AND client_id = $2", user_id, client_id
    )
    return from_row(Message, row) if row else None


async def get_reply(db: Executor, message_id: UUID) -> Message | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM conversations WHERE reply_to = $1", message_id)
    return from_row(Message, row) if row else None


async def list_messages(
    db: Executor, user_id: UUID, replica_id: str | None, *, before: int | None, limit: int
) -> list[Message]:
    """The user's messages, newest first: one stream paged by ``seq``, or all streams by time."""
    if replica_id is None:
        rows = await db.fetch(
            f'SELECT {_COLUMNS} FROM conversations WHERE user_id = $1 ORDER BY "timestamp" DESC, id DESC LIMIT $2',
            user_id,
            limit,
        )
    else:
        rows = await db.fetch(
            f"""
            SELECT {_COLUMNS} FROM conversations
            WHERE user_id = $1 AND replica_id = $2 AND ($3::bigint IS NULL OR seq < $3)
            ORDER BY seq DESC LIMIT $4
            """,
            user_id,
            replica_id,
            before,
            limit,
        )
    return [from_row(Message, row) for row in rows]


async def messages_after(db: Executor, user_id: UUID, replica_id: str, after: int, limit: int) -> list[Message]:
    """Messages of one stream with ``seq > after``, oldest first (for resume)."""
    rows = await db.fetch(
        f"""
        SELECT {_COLUMNS} FROM conversations WHERE user_id = $1 AND replica_id = $2 AND seq > $3
        ORDER BY seq LIMIT $4
        """,
        user_id,
        replica_id,
        after,
        limit,
    )
    return [from_row(Message, row) for row in rows]


async def latest_seq(db: Executor, user_id: UUID, replica_id: str) -> int:
    value = await db.fetchval(
        "SELECT last_seq FROM conversation_streams WHERE user_id = $1 AND replica_id = $2", user_id, replica_id
    )
    return value or 0


async def unanswered(db: Executor, kind: str, older_than: float, horizon: float, limit: int) -> list[Message]:
    """User messages stored between ``horizon`` and ``older_than`` seconds ago with neither a reply row of
    ``kind`` nor a stored reply, oldest first: their process died between acking them and recording their reply."""
    rows = await db.fetch(
        f"""
        SELECT {_COLUMNS} FROM conversations c
        WHERE c.sender = 'user'
          AND c."timestamp" < now() - make_interval(secs => $2)
          AND c."timestamp" > now() - make_interval(secs => $3)
          AND NOT EXISTS (SELECT 1 FROM replies r WHERE r.kind = $1 AND r.reply_to = c.id::text)
          AND NOT EXISTS (SELECT 1 FROM conversations a WHERE a.reply_to = c.id)
        ORDER BY c."timestamp" LIMIT $4
        """,
        kind,
        older_than,
        horizon,
        limit,
    )
    return [from_row(Message, row) for row in rows]
