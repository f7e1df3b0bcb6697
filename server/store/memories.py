"""Token-gated memories: ``memory_tiers``, ``replica_memories``, ``memory_unlocks`` and ``memory_listings``.

A user sees a memory of a replica when they wrote it, when their staked tokens reach its tier's threshold, or
while they hold a live unlock of it (spent, bought, or staked and not yet lapsed): :func:`unlocked_for` is that
rule in one query, for whoever builds what a replica is told. A house memory has no author: the operator seeded it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

import asyncpg
import msgspec

from .errors import Conflict, NotFound
from .records import from_row
from .users import Executor

UnlockMethod = Literal["spend", "stake", "purchase"]
EndReason = Literal["lapsed", "released", "sold"]
ListingStatus = Literal["open", "sold", "withdrawn"]


class Tier(msgspec.Struct, frozen=True):
    tier: str
    rank: int
    threshold: int
    """Staked tokens that open every memory of the tier."""
    price: int
    """Default price of unlocking one memory of the tier."""


class Memory(msgspec.Struct, frozen=True):
    id: UUID
    replica_id: str
    author_id: UUID | None
    """``None`` for a house memory, seeded by the operator."""
    tier: str
    content: str
    price: int
    """The base price; what an unlock costs follows ``unlocks`` (the prototype's pricing rule)."""
    unlocks: int
    """Unlocks made so far by spending or staking."""
    created_at: datetime


class Unlock(msgspec.Struct, frozen=True):
    id: UUID
    user_id: UUID
    memory_id: UUID
    method: UnlockMethod
    amount: int
    created_at: datetime
    expires_at: datetime | None
    ended_at: datetime | None
    end_reason: EndReason | None


class Listing(msgspec.Struct, frozen=True):
    id: UUID
    seller_id: UUID
    unlock_id: UUID
    memory_id: UUID
    price: int
    status: ListingStatus
    buyer_id: UUID | None
    created_at: datetime
    closed_at: datetime | None


_MEMORY = "m.id, m.replica_id, m.author_id, m.tier, m.content, m.price, m.unlocks, m.created_at"
_UNLOCK = "id, user_id, memory_id, method, amount, created_at, expires_at, ended_at, end_reason"
_LISTING = "id, seller_id, unlock_id, memory_id, price, status, buyer_id, created_at, closed_at"

# The one visibility rule (see the module docstring); $1 is the user (a house memory's author is NULL: no one's).
# A staked unlock past its expiry no longer counts even before the sweeper has ended it.
_VISIBLE = """(
    m.author_id IS NOT DISTINCT FROM $1
    OR t.threshold <= coalesce((SELECT a.staked FROM ledger_accounts a WHERE a.user_id = $1), 0)
    OR EXISTS (
        SELECT 1 FROM memory_unlocks u
        WHERE u.user_id = $1 AND u.memory_id = m.id AND u.ended_at IS NULL
          AND (u.expires_at IS NULL OR u.expires_at > now())
    )
)"""


async def list_tiers(db: Executor) -> list[Tier]:
    rows = await db.fetch("SELECT tier, rank, threshold, price FROM memory_tiers ORDER BY rank")
    return [from_row(Tier, row) for row in rows]


async def create_memory(
    db: Executor, author_id: UUID, replica_id: str, tier: str, content: str, price: int | None
) -> Memory:
    """Add a memory to a replica; ``price`` ``None`` takes the tier's price. :class:`NotFound` for an unknown tier."""
    try:
        row = await db.fetchrow(
            f"""
            INSERT INTO replica_memories AS m (replica_id, author_id, tier, content, price)
            SELECT $1, $2, t.tier, $4, coalesce($5, t.price) FROM memory_tiers t WHERE t.tier = $3
            RETURNING {_MEMORY}
            """,
            replica_id,
            author_id,
            tier,
            content,
            price,
        )
    except asyncpg.ForeignKeyViolationError as exc:
        raise NotFound("no such user") from exc
    if row is None:
        raise NotFound(f"no tier {tier!r}")
    return from_row(Memory, row)


async def seed_memory(db: Executor, replica_id: str, tier: str, content: str, price: int | None) -> Memory:
    """Add a house memory (no author) to a replica, or set the tier and price of the one with this content;
    ``price`` ``None`` takes the tier's. :class:`NotFound` for an unknown tier."""
    row = await db.fetchrow(
        f"""
        INSERT INTO replica_memories AS m (replica_id, author_id, tier, content, price)
        SELECT $1, NULL, t.tier, $3, coalesce($4, t.price) FROM memory_tiers t WHERE t.tier = $2
        ON CONFLICT (replica_id, md5(content)) WHERE author_id IS NULL
        DO UPDATE SET tier = excluded.tier, price = excluded.price
        RETURNING {_MEMORY}
        """,
        replica_id,
        tier,
        content,
        price,
    )
    if row is None:
        raise NotFound(f"no tier {tier!r}")
    return from_row(Memory, row)


async def get_memory(db: Executor, memory_id: UUID, *, for_update: bool = False) -> Memory:
    """One memory; ``for_update`` holds it until the transaction ends (without blocking new rows that refer to
    it). :class:`NotFound` otherwise."""
    lock = " FOR NO KEY UPDATE" if for_update else ""
    row = await db.fetchrow(f"SELECT {_MEMORY} FROM replica_memories m WHERE m.id = $1{lock}", memory_id)
    if row is None:
        raise NotFound("memory not found")
    return from_row(Memory, row)


async def unlocked_for(db: Executor, user_id: UUID, replica_id: str, limit: int = 20) -> list[Memory]:
    """The memories of ``replica_id`` that ``user_id`` has unlocked (by tier, unlock or authorship), lowest tier
    first, oldest first within a tier: what the replica may draw on when it talks to this user."""
    rows = await db.fetch(
        f"""
        SELECT {_MEMORY} FROM replica_memories m JOIN memory_tiers t ON t.tier = m.tier
        WHERE m.replica_id = $2 AND {_VISIBLE}
        ORDER BY t.rank, m.created_at, m.id LIMIT $3
        """,
        user_id,
        replica_id,
        limit,
    )
    return [from_row(Memory, row) for row in rows]


class MemoryView(msgspec.Struct, frozen=True):
    """A memory as one user sees it: its content only when it is unlocked for them."""

    id: UUID
    replica_id: str
    tier: str
    price: int
    """The base price (the prototype shows what the next unlock costs)."""
    unlocks: int
    unlocked: bool
    content: str | None
    created_at: datetime
    authored: bool
    house: bool
    """Seeded by the operator (no author)."""


async def list_for_user(db: Executor, user_id: UUID, replica_id: str | None, limit: int = 200) -> list[MemoryView]:
    """The memories of one replica (or of all), each saying whether ``user_id`` has unlocked it."""
    rows = await db.fetch(
        f"""
        SELECT m.id, m.replica_id, m.tier, m.price, m.unlocks, m.created_at,
               coalesce(m.author_id = $1, false) AS authored, m.author_id IS NULL AS house,
               {_VISIBLE} AS unlocked, m.content
        FROM replica_memories m JOIN memory_tiers t ON t.tier = m.tier
        WHERE $2::text IS NULL OR m.replica_id = $2
        ORDER BY m.replica_id, t.rank, m.created_at, m.id LIMIT $3
        """,
        user_id,
        replica_id,
        limit,
    )
    return [
        MemoryView(
            id=row["id"],
            replica_id=row["replica_id"],
            tier=row["tier"],
            price=row["price"],
            unlocks=row["unlocks"],
            unlocked=row["unlocked"],
            content=row["content"] if row["unlocked"] else None,
            created_at=row["created_at"],
            authored=row["authored"],
            house=row["house"],
        )
        for row in rows
    ]


async def is_visible(db: Executor, user_id: UUID, memory_id: UUID) -> bool:
    """Whether the memory is unlocked for the user already (by any route)."""
    found = await db.fetchval(
        f"SELECT {_VISIBLE} FROM replica_memories m JOIN memory_tiers t ON t.tier = m.tier WHERE m.id = $2",
        user_id,
        memory_id,
    )
    return bool(found)


async def add_unlock(
    db: Executor, user_id: UUID, memory_id: UUID, method: UnlockMethod, amount: int, expires_at: datetime | None
) -> Unlock:
    """Record a live unlock; :class:`Conflict` when the user holds one of this memory already."""
    try:
        row = await db.fetchrow(
            f"""
            INSERT INTO memory_unlocks (user_id, memory_id, method, amount, expires_at)
            VALUES ($1, $2, $3, $4, $5) RETURNING {_UNLOCK}
            """,
            user_id,
            memory_id,
            method,
            amount,
            expires_at,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict("the memory is unlocked already") from exc
    return from_row(Unlock, row)


async def count_unlock(db: Executor, memory_id: UUID) -> None:
    """Count one more unlock of the memory (by spending or staking)."""
    await db.execute("UPDATE replica_memories SET unlocks = unlocks + 1 WHERE id = $1", memory_id)


async def get_unlock(db: Executor, user_id: UUID, unlock_id: UUID, *, for_update: bool = False) -> Unlock:
    """One of the user's unlocks (live or ended); :class:`NotFound` otherwise."""
    lock = " FOR UPDATE" if for_update else ""
    row = await db.fetchrow(
        f"SELECT {_UNLOCK} FROM memory_unlocks WHERE id = $1 AND user_id = $2{lock}", unlock_id, user_id
    )
    if row is None:
        raise NotFound("unlock not found")
    return from_row(Unlock, row)


async def list_unlocks(db: Executor, user_id: UUID, limit: int = 100) -> list[Unlock]:
    """The user's unlocks, live ones first, newest first."""
    rows = await db.fetch(
        f"SELECT {_UNLOCK} FROM memory_unlocks WHERE user_id = $1"
        " ORDER BY ended_at IS NOT NULL, created_at DESC, id LIMIT $2",
        user_id,
        limit,
    )
    return [from_row(Unlock, row) for row in rows]


async def end_unlock(db: Executor, unlock_id: UUID, reason: EndReason) -> Unlock | None:
    """End a live unlock; ``None`` when it had ended already (someone else got there first)."""
    row = await db.fetchrow(
        f"""
        UPDATE memory_unlocks SET ended_at = now(), end_reason = $2
        WHERE id = $1 AND ended_at IS NULL RETURNING {_UNLOCK}
        """,
        unlock_id,
        reason,
    )
    return from_row(Unlock, row) if row else None


async def extend_unlock(db: Executor, unlock_id: UUID, expires_at: datetime) -> Unlock | None:
    """Move a live staked unlock's expiry; ``None`` when it is no longer live."""
    row = await db.fetchrow(
        f"""
        UPDATE memory_unlocks SET expires_at = $2
        WHERE id = $1 AND ended_at IS NULL AND method = 'stake' RETURNING {_UNLOCK}
        """,
        unlock_id,
        expires_at,
    )
    return from_row(Unlock, row) if row else None


async def claim_lapsed(db: Executor, limit: int) -> list[Unlock]:
    """Live staked unlocks past their expiry, locked for this transaction (others skip them)."""
    rows = await db.fetch(
        f"""
        SELECT {_UNLOCK} FROM memory_unlocks
        WHERE ended_at IS NULL AND method = 'stake' AND expires_at <= now()
        ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
        """,
        limit,
    )
    return [from_row(Unlock, row) for row in rows]


async def next_lapse(db: Executor) -> datetime | None:
    """When the next live staked unlock lapses."""
    found: datetime | None = await db.fetchval(
        "SELECT min(expires_at) FROM memory_unlocks WHERE ended_at IS NULL AND method = 'stake'"
    )
    return found


async def create_listing(db: Executor, seller_id: UUID, unlock: Unlock, price: int) -> Listing:
    """Offer an unlock for sale; :class:`Conflict` when it is on offer already."""
    try:
        row = await db.fetchrow(
            f"""
            INSERT INTO memory_listings (seller_id, unlock_id, memory_id, price)
            VALUES ($1, $2, $3, $4) RETURNING {_LISTING}
            """,
            seller_id,
            unlock.id,
            unlock.memory_id,
            price,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict("the unlock is on offer already") from exc
    return from_row(Listing, row)


async def get_listing(db: Executor, listing_id: UUID, *, for_update: bool = False) -> Listing:
    """A listing (any user's: the marketplace is shared); :class:`NotFound` otherwise."""
    lock = " FOR UPDATE" if for_update else ""
    row = await db.fetchrow(f"SELECT {_LISTING} FROM memory_listings WHERE id = $1{lock}", listing_id)
    if row is None:
        raise NotFound("listing not found")
    return from_row(Listing, row)


async def close_listing(db: Executor, listing_id: UUID, status: ListingStatus, buyer_id: UUID | None) -> Listing:
    row = await db.fetchrow(
        f"""
        UPDATE memory_listings SET status = $2, buyer_id = $3, closed_at = now()
        WHERE id = $1 AND status = 'open' RETURNING {_LISTING}
        """,
        listing_id,
        status,
        buyer_id,
    )
    if row is None:
        raise Conflict("the listing is closed")
    return from_row(Listing, row)


async def withdraw_listings_of(db: Executor, unlock_id: UUID) -> None:
    """Close the open listing of an unlock that has ended."""
    await db.execute(
        "UPDATE memory_listings SET status = 'withdrawn', closed_at = now() WHERE unlock_id = $1 AND status = 'open'",
        unlock_id,
    )


class Offer(msgspec.Struct, frozen=True):
    """An open listing as the marketplace shows it: what is sold, never the memory's content."""

    id: UUID
    memory_id: UUID
    replica_id: str
    tier: str
    price: int
    seller_id: UUID
    created_at: datetime


async def open_offers(db: Executor, limit: int = 100) -> list[Offer]:
    rows = await db.fetch(
        """
        SELECT l.id, l.memory_id, m.replica_id, m.tier, l.price, l.seller_id, l.created_at
        FROM memory_listings l JOIN replica_memories m ON m.id = l.memory_id
        WHERE l.status = 'open' ORDER BY l.created_at DESC, l.id LIMIT $1
        """,
        limit,
    )
    return [from_row(Offer, row) for row in rows]
