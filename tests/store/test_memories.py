"""The memory records: who sees which memory of a replica (the rule the replica's context is built from)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from server.store import ledger, memories, users
from server.store.errors import Conflict

REPLICA = "replica-a"


async def test_unlocked_for_follows_authorship_stake_level_and_live_unlocks(pool: asyncpg.Pool) -> None:
    """Public memories show to all; a premium one to its author, to a 100-staker, and to an unlock holder only."""
    author = await users.create_user(pool, "author@example.com", None)
    reader = await users.create_user(pool, "reader@example.com", None)
    public = await memories.create_memory(pool, author.id, REPLICA, "public", "born in London", None)
    premium = await memories.create_memory(pool, author.id, REPLICA, "premium", "Note G", None)
    await memories.create_memory(pool, author.id, "replica-b", "public", "another replica's", None)
    assert premium.price == 10  # the tier's price

    assert [m.id for m in await memories.unlocked_for(pool, author.id, REPLICA)] == [public.id, premium.id]
    assert [m.id for m in await memories.unlocked_for(pool, reader.id, REPLICA)] == [public.id]

    await ledger.mint(pool, reader.id, 100)
    await ledger.stake(pool, reader.id, 100)
    assert [m.id for m in await memories.unlocked_for(pool, reader.id, REPLICA)] == [public.id, premium.id]
    await ledger.unstake(pool, reader.id, 100)

    past = datetime.now(UTC) - timedelta(seconds=1)
    expired = await memories.add_unlock(pool, reader.id, premium.id, "stake", 50, past)
    assert [m.id for m in await memories.unlocked_for(pool, reader.id, REPLICA)] == [public.id]  # lapsed
    with pytest.raises(Conflict):
        await memories.add_unlock(pool, reader.id, premium.id, "spend", 10, None)
    await memories.end_unlock(pool, expired.id, "lapsed")
    await memories.add_unlock(pool, reader.id, premium.id, "spend", 10, None)
    assert [m.id for m in await memories.unlocked_for(pool, reader.id, REPLICA)] == [public.id, premium.id]
