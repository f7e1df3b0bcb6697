"""The ``tasks`` table's functions against a real database: scoped to their owner, guarded against a change made
meanwhile, and a due task claimed for its reminder by one transaction only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from server.store import tasks, users
from server.store.errors import NotFound


async def test_another_users_task_is_not_found(pool: asyncpg.Pool) -> None:
    """Bob neither lists, changes nor deletes Alice's task; it stays as it was."""
    alice = await users.create_user(pool, "alice@example.com", None)
    bob = await users.create_user(pool, "bob@example.com", None)
    task = await tasks.create_task(pool, alice.id, "buy milk")
    assert await tasks.list_tasks(pool, bob.id) == []
    with pytest.raises(NotFound):
        await tasks.update_task(pool, bob.id, task.id, status="completed")
    with pytest.raises(NotFound):
        await tasks.delete_task(pool, bob.id, task.id)
    assert await tasks.list_tasks(pool, alice.id) == [task]


async def test_a_change_guarded_by_what_was_seen_fails_once_the_task_changed(pool: asyncpg.Pool) -> None:
    """With ``expected_updated_at`` a change applies to the task as it was seen, not to a task changed since."""
    alice = await users.create_user(pool, "alice@example.com", None)
    seen = await tasks.create_task(pool, alice.id, "call Bob")
    changed = await tasks.update_task(pool, alice.id, seen.id, description="call Bob at 5")
    with pytest.raises(NotFound):
        await tasks.delete_task(pool, alice.id, seen.id, expected_updated_at=seen.updated_at)
    with pytest.raises(NotFound):
        await tasks.update_task(pool, alice.id, seen.id, status="completed", expected_updated_at=seen.updated_at)
    assert await tasks.list_tasks(pool, alice.id) == [changed]
    done = await tasks.update_task(pool, alice.id, seen.id, status="completed", expected_updated_at=changed.updated_at)
    assert done.status == "completed" and done.description == "call Bob at 5"


async def test_a_due_task_is_claimed_once_and_again_after_a_new_due_time(pool: asyncpg.Pool) -> None:
    """Two transactions claiming at once share the due tasks out (one each, never both); a claimed task is not
    claimed again, until it is given a new due time; a task not yet due, or completed, is never claimed."""
    alice = await users.create_user(pool, "alice@example.com", None)
    past = datetime.now(UTC) - timedelta(minutes=1)
    due = await tasks.create_task(pool, alice.id, "due", due_at=past)
    await tasks.create_task(pool, alice.id, "later", due_at=datetime.now(UTC) + timedelta(days=1))
    await tasks.create_task(pool, alice.id, "done", "completed", due_at=past)

    async with pool.acquire() as first, pool.acquire() as second:
        async with first.transaction(), second.transaction():
            claimed_first = await tasks.claim_due(first, 10)
            claimed_second = await tasks.claim_due(second, 10)  # the row the first holds is skipped, not waited for
    assert [t.id for t in claimed_first] == [due.id] and claimed_second == []
    assert await tasks.claim_due(pool, 10) == []

    await tasks.update_task(pool, alice.id, due.id, due_at=past)
    assert [t.id for t in await tasks.claim_due(pool, 10)] == [due.id]
