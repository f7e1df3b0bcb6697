"""The ``rooms``, ``room_members`` and ``room_messages`` tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple
from uuid import UUID

import asyncpg
import msgspec

from .errors import NotFound
from .records import Room, RoomMessage, RoomMode, RoomSettings, Sender, from_row
from .users import Executor

_ROOM = "id, name, created_by, mode, replica_ids, settings, is_open, last_seq, created_at"
_MESSAGE = "id, room_id, seq, sender, user_id, replica_id, message, client_id, reply_to, created_at"


async def create_room(
    pool: asyncpg.Pool,
    creator: UUID,
    *,
    name: str,
    mode: RoomMode,
    replica_ids: list[str],
    settings: RoomSettings,
    is_open: bool,
    member_ids: list[UUID],
) -> Room:
    """Create a room with its creator and the given users as members; unknown users are :class:`NotFound`."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"""
            INSERT INTO rooms (name, created_by, mode, replica_ids, settings, is_open)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_ROOM}
            """,
            name,
            creator,
            mode,
            replica_ids,
            msgspec.to_builtins(settings),
            is_open,
        )
        assert row is not None
        members = list(dict.fromkeys([creator, *member_ids]))
        try:
            await conn.executemany(
                "INSERT INTO room_members (room_id, user_id) VALUES ($1, $2)", [(row["id"], m) for m in members]
            )
        except asyncpg.ForeignKeyViolationError as exc:
            raise NotFound("a member does not exist") from exc
        return from_row(Room, row)


async def change_mode(db: Executor, room_id: UUID, mode: RoomMode, settings: RoomSettings) -> Room:
    """Set the room's mode and settings (its runs from the next one on); :class:`NotFound` if it is gone."""
    row = await db.fetchrow(
        f"UPDATE rooms SET mode = $2, settings = $3 WHERE id = $1 RETURNING {_ROOM}",
        room_id,
        mode,
        msgspec.to_builtins(settings),
    )
    if row is None:
        raise NotFound("no such room")
    return from_row(Room, row)


async def visible_room(db: Executor, room_id: UUID, user_id: UUID) -> Room:
    """The room if the user is a member or the room is open; else :class:`NotFound` (no existence leak)."""
    row = await db.fetchrow(
        f"""
        SELECT {_ROOM} FROM rooms r
        WHERE id = $1 AND (is_open OR EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = r.id AND m.user_id = $2))
        """,
        room_id,
        user_id,
    )
    if row is None:
        raise NotFound("room not found")
    return from_row(Room, row)


async def list_rooms(db: Executor, user_id: UUID) -> list[Room]:
    """Rooms the user belongs to, then open rooms, newest first."""
    rows = await db.fetch(
        f"""
        SELECT {_ROOM} FROM rooms r
        WHERE is_open OR EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = r.id AND m.user_id = $1)
        ORDER BY created_at DESC, id
        """,
        user_id,
    )
    return [from_row(Room, row) for row in rows]


async def members(db: Executor, room_id: UUID) -> list[UUID]:
    rows = await db.fetch("SELECT user_id FROM room_members WHERE room_id = $1 ORDER BY joined_at, user_id", room_id)
    return [row["user_id"] for row in rows]


async def is_member(db: Executor, room_id: UUID, user_id: UUID) -> bool:
    return bool(
        await db.fetchval("SELECT true FROM room_members WHERE room_id = $1 AND user_id = $2", room_id, user_id)
    )


async def add_member(db: Executor, room_id: UUID, user_id: UUID) -> bool:
    """Make the user a member; ``False`` if they were one already."""
    try:
        status = await db.execute(
            "INSERT INTO room_members (room_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", room_id, user_id
        )
    except asyncpg.ForeignKeyViolationError as exc:
        raise NotFound("no such user") from exc
    return status == "INSERT 0 1"


class NewRoomMessage(NamedTuple):
    """A room message to store; ``(room_id, user_id, client_id)`` stores it once."""

    room_id: UUID
    sender: Sender
    content: str
    user_id: UUID | None = None
    replica_id: str | None = None
    client_id: str | None = None
    reply_to: UUID | None = None


def _columns(alias: str) -> str:
    return ", ".join(f"{alias}.{column.strip()}" for column in _MESSAGE.split(","))


Stored = tuple[RoomMessage, bool]
"""A stored message and whether its client id had stored it before."""

# One statement (one round trip, committed on its own): skip what a client id already stored, take each room's
# next seqs by bumping its counter once for the whole batch, insert. The counter's row lock is held only for
# this statement's commit, and it is what keeps a room's seqs gap-free *and* visible in order: a later seq never
# commits before an earlier one, so a client resuming after the newest seq it saw cannot skip one. Rooms are
# bumped in id order so that two batches touching the same rooms queue up instead of deadlocking.
_INSERT_BATCH = f"""
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::uuid[])
        WITH ORDINALITY AS t(room_id, sender, message, user_id, replica_id, client_id, reply_to, ord)
), stored AS (
    SELECT i.ord, {_columns("m")} FROM input i JOIN room_messages m
        ON m.room_id = i.room_id AND m.user_id = i.user_id AND m.client_id = i.client_id AND m.client_id IS NOT NULL
), fresh AS (
    SELECT i.*, row_number() OVER (PARTITION BY i.room_id ORDER BY i.ord) AS n
    FROM input i WHERE i.ord NOT IN (SELECT ord FROM stored)
), counted AS (
    SELECT room_id, count(*) AS c FROM fresh GROUP BY room_id ORDER BY room_id
), bumped AS (
    UPDATE rooms r SET last_seq = r.last_seq + c.c FROM counted c WHERE r.id = c.room_id
    RETURNING r.id, r.last_seq - c.c AS base
), inserted AS (
    INSERT INTO room_messages (room_id, seq, sender, user_id, replica_id, message, client_id, reply_to)
    SELECT f.room_id, b.base + f.n, f.sender, f.user_id, f.replica_id, f.message, f.client_id, f.reply_to
    FROM fresh f JOIN bumped b ON b.id = f.room_id
    RETURNING {_MESSAGE}
)
SELECT f.ord, false AS duplicate, {_columns("ins")} FROM inserted ins
    JOIN bumped b ON b.id = ins.room_id JOIN fresh f ON f.room_id = ins.room_id AND b.base + f.n = ins.seq
UNION ALL
SELECT s.ord, true, {_columns("s")} FROM stored s
"""


async def insert_messages(db: Executor, batch: Sequence[NewRoomMessage]) -> list[Stored | None]:
    """Store a batch of room messages in one statement; per message, what was stored (``None``: no such room).

    A message whose ``(room, user, client_id)`` stored one before is not stored again: its old row comes back,
    marked as a duplicate. The batch commits or fails whole (a client id repeated inside one batch, or raced by
    another process, fails it with :class:`asyncpg.UniqueViolationError`: store such messages one by one).
    """
    rows = await db.fetch(
        _INSERT_BATCH,
        [m.room_id for m in batch],
        [m.sender for m in batch],
        [m.content for m in batch],
        [m.user_id for m in batch],
        [m.replica_id for m in batch],
        [m.client_id for m in batch],
        [m.reply_to for m in batch],
    )
    results: list[Stored | None] = [None] * len(batch)
    for row in rows:
        results[row["ord"] - 1] = (from_row(RoomMessage, row), row["duplicate"])
    return results


async def append_message(
    db: Executor,
    room_id: UUID,
    *,
    sender: Sender,
    content: str,
    user_id: UUID | None = None,
    replica_id: str | None = None,
    client_id: str | None = None,
    reply_to: UUID | None = None,
) -> Stored:
    """Store one room message with the room's next ``seq``; a repeated ``(user, client_id)`` is not stored twice."""
    return await store_message(db, NewRoomMessage(room_id, sender, content, user_id, replica_id, client_id, reply_to))


async def store_message(db: Executor, message: NewRoomMessage) -> Stored:
    """:func:`append_message` of a :class:`NewRoomMessage`: one round trip; :class:`NotFound` for no such room."""
    try:
        [stored] = await insert_messages(db, [message])
    except asyncpg.UniqueViolationError:
        # A concurrent send with the same client id won the race: answer with its row.
        user_id, client_id = message.user_id, message.client_id
        if client_id is None or user_id is None:
            raise
        existing = await _by_client_id(db, message.room_id, user_id, client_id)
        if existing is None:
            raise
        return existing, True
    if stored is None:
        raise NotFound("room not found")
    return stored


async def _by_client_id(db: Executor, room_id: UUID, user_id: UUID, client_id: str) -> RoomMessage | None:
    row = await db.fetchrow(
        f"SELECT {_MESSAGE} FROM room_messages WHERE room_id = $1 AND user_id = $2 AND client_id = $3",
        room_id,
        user_id,
        client_id,
    )
    return from_row(RoomMessage, row) if row else None


async def list_messages(db: Executor, room_id: UUID, *, before: int | None, limit: int) -> list[RoomMessage]:
    """Newest first, paged by ``seq``."""
    rows = await db.fetch(
        f"""
        SELECT {_MESSAGE} FROM room_messages WHERE room_id = $1 AND ($2::bigint IS NULL OR seq < $2)
        ORDER BY seq DESC LIMIT $3
        """,
        room_id,
        before,
        limit,
    )
    return [from_row(RoomMessage, row) for row in rows]


async def messages_after(db: Executor, room_id: UUID, after: int, limit: int) -> list[RoomMessage]:
    rows = await db.fetch(
        f"SELECT {_MESSAGE} FROM room_messages WHERE room_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        room_id,
        after,
        limit,
    )
    return [from_row(RoomMessage, row) for row in rows]


async def latest_seq(db: Executor, room_id: UUID) -> int:
    return await db.fetchval("SELECT last_seq FROM rooms WHERE id = $1", room_id) or 0


async def transcript(db: Executor, room_id: UUID, limit: int) -> list[tuple[str, str | None, str | None, str]]:
    """The room's last ``limit`` messages, oldest first, as ``(sender, user email, replica id, text)``."""
    rows = await db.fetch(
        """
        SELECT m.sender, u.email, m.replica_id, m.message FROM room_messages m
        LEFT JOIN users u ON u.id = m.user_id
        WHERE m.room_id = $1 ORDER BY m.seq DESC LIMIT $2
        """,
        room_id,
        limit,
    )
    return [(r["sender"], r["email"], r["replica_id"], r["message"]) for r in reversed(rows)]


async def reply_of(db: Executor, room_id: UUID, reply_to: UUID, replica_id: str) -> RoomMessage | None:
    """The replica's stored answer to message ``reply_to`` (a re-run of a failed run reuses it)."""
    row = await db.fetchrow(
        f"""
        SELECT {_MESSAGE} FROM room_messages
        WHERE room_id = $1 AND reply_to = $2 AND replica_id = $3 AND sender = 'replica'
        ORDER BY seq LIMIT 1
        """,
        room_id,
        reply_to,
        replica_id,
    )
    return from_row(RoomMessage, row) if row else None


async def message_with_room(db: Executor, message_id: UUID) -> tuple[Room, RoomMessage] | None:
    """A room message and its room, whoever asks (a process taking up the run a message started)."""
    row = await db.fetchrow(f"SELECT {_MESSAGE} FROM room_messages WHERE id = $1", message_id)
    if row is None:
        return None
    message = from_row(RoomMessage, row)
    room = await db.fetchrow(f"SELECT {_ROOM} FROM rooms r WHERE id = $1", message.room_id)
    return (from_row(Room, room), message) if room is not None else None


async def unrun_messages(db: Executor, kind: str, older_than: float, horizon: float, limit: int) -> list[RoomMessage]:
    """Rooms' newest user messages stored between ``horizon`` and ``older_than`` seconds ago with no run row of
    ``kind``, in rooms with no run open: their process died between acking them and recording their run."""
    rows = await db.fetch(
        f"""
        SELECT {_MESSAGE} FROM room_messages m
        WHERE m.sender = 'user'
          AND m.created_at < now() - make_interval(secs => $2)
          AND m.created_at > now() - make_interval(secs => $3)
          AND NOT EXISTS (SELECT 1 FROM replies r WHERE r.kind = $1 AND r.reply_to = m.id::text)
          AND NOT EXISTS (SELECT 1 FROM room_messages n WHERE n.room_id = m.room_id AND n.seq > m.seq
                          AND n.sender = 'user')
          AND NOT EXISTS (
              SELECT 1 FROM replies r JOIN room_messages o ON r.reply_to = o.id::text
              WHERE r.kind = $1 AND r.state IN ('pending', 'running') AND o.room_id = m.room_id
          )
        ORDER BY m.created_at LIMIT $4
        """,
        kind,
        older_than,
        horizon,
        limit,
    )
    return [from_row(RoomMessage, row) for row in rows]
