"""The mock chain's ``chain_transfers``: $SNSY transfers between wallet addresses, settled in the ledger."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from .records import from_row
from .users import Executor

_COLUMNS = "hash, user_id, from_address, to_address, recipient_id, amount, nonce, block_number, created_at"


class ChainTransfer(msgspec.Struct, frozen=True):
    hash: str
    user_id: UUID
    from_address: str
    to_address: str
    recipient_id: UUID | None
    amount: int
    nonce: int
    block_number: int
    created_at: datetime


async def wallet_of(db: Executor, user_id: UUID) -> str:
    address: str = await db.fetchval("SELECT wallet_address FROM users WHERE id = $1", user_id)
    return address


async def owner_of(db: Executor, address: str) -> UUID | None:
    """The user whose wallet ``address`` is (``None``: an address outside the hub)."""
    found: UUID | None = await db.fetchval("SELECT id FROM users WHERE wallet_address = lower($1)", address)
    return found


async def next_nonce(db: Executor, user_id: UUID) -> int:
    """The sender's next nonce (one past the highest used); call with the sender's account locked."""
    used: int | None = await db.fetchval("SELECT max(nonce) FROM chain_transfers WHERE user_id = $1", user_id)
    return 0 if used is None else used + 1


async def by_nonce(db: Executor, user_id: UUID, nonce: int) -> ChainTransfer | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM chain_transfers WHERE user_id = $1 AND nonce = $2", user_id, nonce)
    return from_row(ChainTransfer, row) if row else None


async def add(
    db: Executor,
    *,
    tx_hash: str,
    user_id: UUID,
    from_address: str,
    to_address: str,
    recipient_id: UUID | None,
    amount: int,
    nonce: int,
    block_number: int,
) -> ChainTransfer:
    row = await db.fetchrow(
        f"""
        INSERT INTO chain_transfers (hash, user_id, from_address, to_address, recipient_id, amount, nonce, block_number)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_COLUMNS}
        """,
        tx_hash,
        user_id,
        from_address,
        to_address,
        recipient_id,
        amount,
        nonce,
        block_number,
    )
    return from_row(ChainTransfer, row)


async def get(db: Executor, user_id: UUID, tx_hash: str) -> ChainTransfer | None:
    """A transfer the user sent or received."""
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM chain_transfers WHERE hash = lower($2) AND (user_id = $1 OR recipient_id = $1)",
        user_id,
        tx_hash,
    )
    return from_row(ChainTransfer, row) if row else None
