"""The ``rooms``, ``room_members`` and ``room_messages`` tables."""

from __future__ import annotations

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


async def add_member(db: Executor, room_id: UUID, user_id: UUID) -> None:
    try:
        await db.execute(
            "INSERT INTO room_members (room_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", room_id, user_id
        )
    except asyncpg.ForeignKeyViolationError as exc:
        raise NotFound("no such user") from exc


async def append_message(
    pool: asyncpg.Pool,
    room_id: UUID,
    *,
    sender: Sender,
    content: str,
    user_id: UUID | None = None,
    replica_id: str | None = None,
    client_id: str | None = None,
    reply_to: UUID | None = None,
) -> tuple[RoomMessage, bool]:
    """Store a room message with the room's next ``seq``; a repeated ``(user, client_id)`` is not stored twice."""
    async with pool.acquire() as conn:
        if client_id is not None and user_id is not None:
            existing = await _by_client_id(conn, room_id, user_id, client_id)
            if existing is not None:
                return existing, True
        try:
            async with conn.transaction():
                # Locks the room row until commit: room sequence numbers are gap-free and ordered.
                seq = await conn.fetchval(
                    "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq", room_id
                )
                if seq is None:
                    raise NotFound("room not found")
                row = await conn.fetchrow(
                    f"""
                    INSERT INTO room_messages (room_id, seq, sender, user_id, replica_id, message, client_id, reply_to)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_MESSAGE}
                    """,
                    room_id,
                    seq,
                    sender,
                    user_id,
                    replica_id,
                    content,
                    client_id,
                    reply_to,
                )
                return from_row(RoomMessage, row), False
        except asyncpg.UniqueViolationError:
            existing = await _by_client_id(conn, room_id, user_id, client_id) if client_id and user_id else None
            if existing is None:
                raise
            return existing, True


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
