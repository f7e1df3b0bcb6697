"""The ledger tables themselves: balances cannot go negative and the journal cannot be rewritten."""

from __future__ import annotations

import asyncpg
import pytest

from server.store import ledger, users
from server.store.errors import InsufficientFunds


async def test_journal_is_append_only_but_goes_with_its_user(pool: asyncpg.Pool) -> None:
    """Updating or deleting a journal row fails; deleting the user removes account and journal."""
    user = await users.create_user(pool, "ledger@example.com", None)
    async with pool.acquire() as conn, conn.transaction():
        await ledger.mint(conn, user.id, 10)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await pool.execute("UPDATE ledger_entries SET amount = 1000 WHERE user_id = $1", user.id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await pool.execute("DELETE FROM ledger_entries WHERE user_id = $1", user.id)
    await pool.execute("DELETE FROM users WHERE id = $1", user.id)
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries") == 0
    assert await pool.fetchval("SELECT count(*) FROM ledger_accounts") == 0


async def test_debits_beyond_the_balance_fail_and_leave_it_alone(pool: asyncpg.Pool) -> None:
    """spend and stake over the balance raise InsufficientFunds; the CHECK also refuses a negative balance."""
    user = await users.create_user(pool, "poor@example.com", None)
    with pytest.raises(InsufficientFunds):
        await ledger.spend(pool, user.id, 1)
    await ledger.mint(pool, user.id, 5)
    with pytest.raises(InsufficientFunds):
        await ledger.stake(pool, user.id, 6)
    assert await ledger.get_account(pool, user.id) == ledger.Account(balance=5, staked=0)
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute("UPDATE ledger_accounts SET balance = -1 WHERE user_id = $1", user.id)
