"""The mock $SNSY ledger: ``ledger_accounts`` (balance, staked) and the append-only ``ledger_entries`` journal.

Every movement is one conditional ``UPDATE`` (it matches no row when the money is not there) plus one journal
row; call these on a connection inside a transaction so both land, or neither.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import msgspec

from .errors import InsufficientFunds
from .records import from_row
from .users import Executor

EntryKind = Literal["mint", "stake", "unstake", "spend", "lock", "release", "transfer_in", "transfer_out"]


class Account(msgspec.Struct, frozen=True):
    balance: int
    staked: int


async def get_account(db: Executor, user_id: UUID) -> Account:
    """The user's account; an account never touched is all zeros."""
    row = await db.fetchrow("SELECT balance, staked FROM ledger_accounts WHERE user_id = $1", user_id)
    return Account(row["balance"], row["staked"]) if row else Account(0, 0)


async def lock_account(db: Executor, user_id: UUID) -> Account:
    """Like :func:`get_account`, holding the row lock until the transaction ends (serialises a user's ledger)."""
    row = await db.fetchrow("SELECT balance, staked FROM ledger_accounts WHERE user_id = $1 FOR UPDATE", user_id)
    return Account(row["balance"], row["staked"]) if row else Account(0, 0)


async def mint(db: Executor, user_id: UUID, amount: int, memo: dict[str, Any] | None = None) -> Account:
    """Create ``amount`` new tokens in the user's balance."""
    row = await _credit(db, user_id, amount)
    return await _journal(db, user_id, "mint", amount, amount, 0, row, memo)


async def stake(db: Executor, user_id: UUID, amount: int, memo: dict[str, Any] | None = None) -> Account:
    """Move ``amount`` from balance to staked; :class:`InsufficientFunds` if the balance is smaller."""
    row = await _debit(db, user_id, amount, staked_delta=amount)
    if row is None:
        raise InsufficientFunds(f"cannot stake {amount}: the balance is smaller")
    return await _journal(db, user_id, "stake", amount, -amount, amount, row, memo)


async def unstake(db: Executor, user_id: UUID, amount: int, memo: dict[str, Any] | None = None) -> Account:
    """Move ``amount`` from staked back to balance; :class:`InsufficientFunds` if less is staked."""
    row = await db.fetchrow(
        """
        UPDATE ledger_accounts SET staked = staked - $2, balance = balance + $2, updated_at = now()
        WHERE user_id = $1 AND staked >= $2 RETURNING balance, staked
        """,
        user_id,
        amount,
    )
    if row is None:
        raise InsufficientFunds(f"cannot unstake {amount}: less is staked")
    return await _journal(db, user_id, "unstake", amount, amount, -amount, row, memo)


async def spend(db: Executor, user_id: UUID, amount: int, memo: dict[str, Any] | None = None) -> Account:
    """Take ``amount`` out of the balance for good; :class:`InsufficientFunds` if the balance is smaller."""
    row = await _debit(db, user_id, amount, staked_delta=0)
    if row is None:
        raise InsufficientFunds(f"cannot spend {amount}: the balance is smaller")
    return await _journal(db, user_id, "spend", amount, -amount, 0, row, memo)


async def lock(db: Executor, user_id: UUID, amount: int, memo: dict[str, Any] | None = None) -> Account:
    """Take ``amount`` out of the balance into a staked unlock; :class:`InsufficientFunds` if it is not there."""
    row = await _debit(db, user_id, amount, staked_delta=0)
    if row is None:
        raise InsufficientFunds(f"cannot stake {amount} on a memory: the balance is smaller")
    return await _journal(db, user_id, "lock", amount, -amount, 0, row, memo)


async def release(db: Executor, user_id: UUID, amount: int, memo: dict[str, Any] | None = None) -> Account:
    """Return ``amount`` from an ended staked unlock to the balance (nothing is journalled for 0)."""
    if amount == 0:
        return await get_account(db, user_id)
    row = await _credit(db, user_id, amount)
    return await _journal(db, user_id, "release", amount, amount, 0, row, memo)


async def transfer(
    db: Executor, sender: UUID, recipient: UUID | None, amount: int, memo: dict[str, Any] | None = None
) -> Account:
    """Move ``amount`` from ``sender``'s balance to ``recipient``'s (``None``: out of the ledger, to an outside
    address); :class:`InsufficientFunds` if the sender's balance is smaller. Returns the sender's account."""
    # Both accounts are locked in one order, so two opposite transfers cannot deadlock.
    parties = [sender] if recipient is None else sorted({sender, recipient})
    await db.execute("SELECT 1 FROM ledger_accounts WHERE user_id = ANY($1) ORDER BY user_id FOR UPDATE", parties)
    row = await _debit(db, sender, amount, staked_delta=0)
    if row is None:
        raise InsufficientFunds(f"cannot transfer {amount}: the balance is smaller")
    account = await _journal(db, sender, "transfer_out", amount, -amount, 0, row, memo)
    if recipient is not None:
        credited = await _credit(db, recipient, amount)
        await _journal(db, recipient, "transfer_in", amount, amount, 0, credited, {**(memo or {}), "from": sender})
    return account


class Entry(msgspec.Struct, frozen=True):
    """One journal row, as ``GET /api/ledger`` pages them (``n`` is the paging cursor)."""

    n: int
    kind: EntryKind
    amount: int
    balance_delta: int
    staked_delta: int
    balance_after: int
    staked_after: int
    memo: dict[str, Any]
    created_at: datetime


async def history(db: Executor, user_id: UUID, *, before: int | None, limit: int) -> list[Entry]:
    """The user's journal, newest first, entries before position ``before`` (all when ``None``)."""
    rows = await db.fetch(
        """
        SELECT n, kind, amount, balance_delta, staked_delta, balance_after, staked_after, memo, created_at
        FROM ledger_entries WHERE user_id = $1 AND ($2::bigint IS NULL OR n < $2) ORDER BY n DESC LIMIT $3
        """,
        user_id,
        before,
        limit,
    )
    return [from_row(Entry, row) for row in rows]


async def _credit(db: Executor, user_id: UUID, amount: int) -> Any:
    return await db.fetchrow(
        """
        INSERT INTO ledger_accounts AS a (user_id, balance) VALUES ($1, $2)
        ON CONFLICT (user_id) DO UPDATE SET balance = a.balance + excluded.balance, updated_at = now()
        RETURNING balance, staked
        """,
        user_id,
        amount,
    )


async def _debit(db: Executor, user_id: UUID, amount: int, *, staked_delta: int) -> Any:
    # One statement: the row lock makes concurrent debits re-check the balance one after the other.
    return await db.fetchrow(
        """
        UPDATE ledger_accounts SET balance = balance - $2, staked = staked + $3, updated_at = now()
        WHERE user_id = $1 AND balance >= $2 RETURNING balance, staked
        """,
        user_id,
        amount,
        staked_delta,
    )


async def _journal(
    db: Executor,
    user_id: UUID,
    kind: EntryKind,
    amount: int,
    balance_delta: int,
    staked_delta: int,
    row: Any,
    memo: dict[str, Any] | None,
) -> Account:
    await db.execute(
        """
        INSERT INTO ledger_entries
            (user_id, kind, amount, balance_delta, staked_delta, balance_after, staked_after, memo)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        """,
        user_id,
        kind,
        amount,
        balance_delta,
        staked_delta,
        row["balance"],
        row["staked"],
        msgspec.to_builtins(memo or {}),
    )
    return Account(row["balance"], row["staked"])
