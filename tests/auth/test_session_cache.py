"""Sockets authenticate without asking the sessions table each time, and an ended session is refused at once."""

from __future__ import annotations

import asyncio
import uuid

from server.auth.cache import LiveSessions


class Table:
    """The sessions table as the cache sees it: which sessions are live, and how often it was asked."""

    def __init__(self) -> None:
        self.live: set[uuid.UUID] = set()
        self.asked = 0
        self.gate: asyncio.Event | None = None

    async def check(self, session_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        self.asked += 1
        live = session_id in self.live  # read before waiting: a slow answer may be stale by the time it lands
        if self.gate is not None:
            await self.gate.wait()
        return live


async def test_a_live_session_is_asked_for_once_per_ttl() -> None:
    table, now = Table(), [1000.0]
    sessions = LiveSessions(table.check, ttl=30, clock=lambda: now[0])
    session, user = uuid.uuid4(), uuid.uuid4()
    table.live.add(session)
    assert all([await sessions.is_live(session, user) for _ in range(100)])
    assert table.asked == 1
    table.live.discard(session)  # revoked in the table, but the broker's announcement was lost
    now[0] += 29
    assert await sessions.is_live(session, user)
    now[0] += 2
    assert not await sessions.is_live(session, user), "after the TTL the table is asked again"
    assert not await sessions.is_live(uuid.uuid4(), user), "an unknown session is asked for, and refused"


async def test_another_user_presenting_the_session_is_not_served_from_the_cache() -> None:
    table = Table()
    sessions = LiveSessions(table.check)
    session = uuid.uuid4()
    table.live.add(session)
    assert await sessions.is_live(session, uuid.uuid4())
    await sessions.is_live(session, uuid.uuid4())
    assert table.asked == 2


async def test_an_ended_session_is_refused_without_asking() -> None:
    table, now = Table(), [1000.0]
    sessions = LiveSessions(table.check, clock=lambda: now[0])
    session, user = uuid.uuid4(), uuid.uuid4()
    table.live.add(session)
    assert await sessions.is_live(session, user)
    sessions.ended(session, expires_at=now[0] + 3600)
    assert not await sessions.is_live(session, user)
    assert table.asked == 1


async def test_a_session_ended_while_the_table_answers_is_not_remembered_live() -> None:
    table = Table()
    sessions = LiveSessions(table.check)
    session, user = uuid.uuid4(), uuid.uuid4()
    table.live.add(session)
    table.gate = asyncio.Event()
    pending = asyncio.create_task(sessions.is_live(session, user))
    await asyncio.sleep(0)
    sessions.ended(session, expires_at=4_000_000_000)
    table.gate.set()
    await pending  # the answer read before the logout: this one connect may pass, as it would have anyway
    assert not await sessions.is_live(session, user)


async def test_forget_asks_the_table_again() -> None:
    table = Table()
    sessions = LiveSessions(table.check)
    session, user = uuid.uuid4(), uuid.uuid4()
    table.live.add(session)
    await sessions.is_live(session, user)
    sessions.forget()
    await sessions.is_live(session, user)
    assert table.asked == 2


async def test_sockets_of_one_session_connecting_together_ask_once() -> None:
    """A reconnect storm (every tab of a session at once) costs the table one question, and all get its answer."""
    table = Table()
    sessions = LiveSessions(table.check)
    session, user = uuid.uuid4(), uuid.uuid4()
    table.live.add(session)
    table.gate = asyncio.Event()
    pending = [asyncio.create_task(sessions.is_live(session, user)) for _ in range(50)]
    await asyncio.sleep(0)
    table.gate.set()
    assert all(await asyncio.gather(*pending))
    assert table.asked == 1


async def test_past_its_capacity_the_least_recently_used_session_is_asked_for_again() -> None:
    """A session in use stays remembered; the one unused longest is the one asked for again."""
    table = Table()
    sessions = LiveSessions(table.check, capacity=2)
    busy, idle, new = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    user = uuid.uuid4()
    table.live.update((busy, idle, new))
    for session in (busy, idle, busy, new):
        assert await sessions.is_live(session, user)
    assert table.asked == 3
    assert await sessions.is_live(busy, user)
    assert table.asked == 3, "the session in use was kept"
    assert await sessions.is_live(idle, user)
    assert table.asked == 4, "the idle one was dropped"


async def test_an_ended_session_is_asked_for_again_once_its_tokens_expired() -> None:
    """An ended session is refused until its last token's expiry; then the table decides again."""
    table, now = Table(), [1000.0]
    sessions = LiveSessions(table.check, clock=lambda: now[0])
    session, user = uuid.uuid4(), uuid.uuid4()
    table.live.add(session)
    sessions.ended(session, expires_at=now[0] + 60)
    sessions.ended(session, expires_at=now[0] + 10)  # an earlier expiry does not shorten it
    now[0] += 30
    assert not await sessions.is_live(session, user) and table.asked == 0
    now[0] += 31
    assert await sessions.is_live(session, user) and table.asked == 1
