"""SupabaseFeed against a Phoenix-protocol Realtime peer whose events come from real inserts in PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg
import pytest
from realtime import AsyncRealtimeClient, RealtimePostgresChangesListenEvent

from server.feed.base import Change
from server.feed.supabase import SupabaseFeed, realtime_url

from ..utils import run_server
from .phoenix_peer import PhoenixPeer

SERVICE_KEY = "service-role-key"
INTERVAL = 0.2


@dataclass
class Collector:
    """The hub's side of the feed: what ``on_change`` and ``on_gap`` were called with."""

    changes: list[Change] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    fail_next: int = 0

    async def on_change(self, change: Change) -> None:
        self.changes.append(change)
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("the hub broke")

    async def on_gap(self, reason: str) -> None:
        self.gaps.append(reason)


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def quietly(seconds: float = 0.3) -> None:
    """Give a change that should not arrive the time it would have needed."""
    await asyncio.sleep(seconds)


@pytest.fixture
async def peer(database_url: str) -> AsyncIterator[PhoenixPeer]:
    async with PhoenixPeer(database_url) as peer, run_server(peer) as url:
        peer.url = url
        yield peer


@pytest.fixture
async def user_id(pool: asyncpg.Pool) -> UUID:
    return await pool.fetchval("INSERT INTO users (email, password_hash) VALUES ('a@x', null) RETURNING id")


@pytest.fixture
async def feed(peer: PhoenixPeer) -> AsyncIterator[tuple[SupabaseFeed, Collector]]:
    assert peer.url is not None
    feed = SupabaseFeed(peer.url, SERVICE_KEY, watchdog_interval=INTERVAL, max_backoff=INTERVAL * 4)
    collector = Collector()
    await feed.start(collector.on_change, collector.on_gap)
    try:
        yield feed, collector
    finally:
        await feed.stop()


async def add_task(pool: asyncpg.Pool, user_id: UUID, description: str = "write tests") -> UUID:
    return await pool.fetchval(
        "INSERT INTO tasks (user_id, description) VALUES ($1, $2) RETURNING id", user_id, description
    )


async def full_replica_identity(pool: asyncpg.Pool) -> None:
    await pool.execute(
        "ALTER TABLE tasks REPLICA IDENTITY FULL; ALTER TABLE prototype_interactions REPLICA IDENTITY FULL"
    )


def test_project_url_becomes_the_realtime_websocket_url() -> None:
    """https becomes wss, http becomes ws, with /realtime/v1/websocket, the key and vsn 1.0.0."""
    https = AsyncRealtimeClient(realtime_url("https://xyz.supabase.co/"), token="k")
    assert https.endpoint_url() == "wss://xyz.supabase.co/realtime/v1/websocket?apikey=k&vsn=1.0.0"
    http = AsyncRealtimeClient(realtime_url("http://127.0.0.1:54321"), token="k")
    assert http.endpoint_url() == "ws://127.0.0.1:54321/realtime/v1/websocket?apikey=k&vsn=1.0.0"
    with pytest.raises(ValueError):
        SupabaseFeed("ftp://xyz.supabase.co", "k")
    with pytest.raises(ValueError):
        SupabaseFeed("https://xyz.supabase.co", "k", tables=["users"])  # type: ignore[list-item]


async def test_subscribes_with_the_service_key_to_both_tables(feed: tuple[SupabaseFeed, Collector], peer: PhoenixPeer):
    """One socket with the key and vsn 1.0.0, one channel with a binding per table, and no gap at first."""
    _, collector = feed
    assert peer.connections == 1 and peer.joins == 1
    assert peer.queries[-1]["apikey"] == [SERVICE_KEY] and peer.queries[-1]["vsn"] == ["1.0.0"]
    assert peer.join_tokens == [SERVICE_KEY]
    [(topic, bindings)] = peer.joined.items()
    assert topic.startswith("realtime:")
    assert [{k: v for k, v in b.items() if k != "id"} for b in bindings] == [
        {"event": "*", "schema": "public", "table": "tasks"},
        {"event": "*", "schema": "public", "table": "prototype_interactions"},
    ]
    assert collector.gaps == []


async def test_changes_of_both_tables_are_delivered(
    feed: tuple[SupabaseFeed, Collector], pool: asyncpg.Pool, user_id: UUID
):
    """INSERT, UPDATE and DELETE of tasks and prototype_interactions reach on_change with their owner."""
    _, collector = feed
    await full_replica_identity(pool)
    task_id = await add_task(pool, user_id)
    await pool.execute("UPDATE tasks SET status = 'completed' WHERE id = $1", task_id)
    await pool.execute("DELETE FROM tasks WHERE id = $1", task_id)
    interaction_id = await pool.fetchval(
        "INSERT INTO prototype_interactions (user_id, prototype, interaction_type, details)"
        " VALUES ($1, 'maze', 'click', '{\"x\": 1}') RETURNING id",
        user_id,
    )
    await pool.execute("UPDATE prototype_interactions SET interaction_type = 'drag' WHERE id = $1", interaction_id)
    await pool.execute("DELETE FROM prototype_interactions WHERE id = $1", interaction_id)
    await eventually(lambda: len(collector.changes) == 6)

    assert [(c.table, c.op, c.user_id) for c in collector.changes] == [
        ("tasks", "INSERT", user_id),
        ("tasks", "UPDATE", user_id),
        ("tasks", "DELETE", user_id),
        ("prototype_interactions", "INSERT", user_id),
        ("prototype_interactions", "UPDATE", user_id),
        ("prototype_interactions", "DELETE", user_id),
    ]
    insert, update, delete = collector.changes[:3]
    assert insert.record is not None and insert.record["id"] == str(task_id)
    assert insert.record["description"] == "write tests" and insert.old_record is None
    assert update.record is not None and update.record["status"] == "completed"
    assert update.old_record is not None and update.old_record["status"] == "pending"
    assert delete.record is None and delete.old_record is not None and delete.old_record["id"] == str(task_id)
    interaction = collector.changes[3]
    assert interaction.record is not None and interaction.record["details"] == {"x": 1}
    assert all(isinstance(c.commit_timestamp, str) for c in collector.changes)
    assert collector.gaps == []


@pytest.mark.parametrize(
    "setup",
    [
        "ALTER TABLE tasks REPLICA IDENTITY DEFAULT",
        "ALTER TABLE tasks REPLICA IDENTITY FULL, ENABLE ROW LEVEL SECURITY",
    ],
    ids=["default-replica-identity", "full-replica-identity-with-rls"],
)
async def test_trimmed_delete_is_routed_by_the_owner_seen_before(
    feed: tuple[SupabaseFeed, Collector], pool: asyncpg.Pool, user_id: UUID, setup: str
):
    """A DELETE whose old_record carries only the primary key reaches the owner the feed saw insert it."""
    supabase, collector = feed
    await pool.execute(setup)
    task_id = await add_task(pool, user_id)
    await eventually(lambda: len(collector.changes) == 1)
    await pool.execute("DELETE FROM tasks WHERE id = $1", task_id)
    await eventually(lambda: len(collector.changes) == 2)
    deleted = collector.changes[1]
    assert deleted.op == "DELETE" and deleted.user_id == user_id and supabase.dropped == 0


async def test_unroutable_delete_is_dropped_and_reported_as_a_gap(
    feed: tuple[SupabaseFeed, Collector], pool: asyncpg.Pool, user_id: UUID
):
    """A trimmed DELETE of a row the feed never saw (say, before a restart) makes every client re-fetch."""
    supabase, collector = feed
    await pool.execute("ALTER TABLE tasks REPLICA IDENTITY DEFAULT")
    task_id = await add_task(pool, user_id)
    await eventually(lambda: len(collector.changes) == 1)
    supabase._owners.clear()  # as after a restart: the insert happened before this process listened
    await pool.execute("DELETE FROM tasks WHERE id = $1", task_id)
    await add_task(pool, user_id, "after the delete")
    await eventually(lambda: len(collector.changes) == 2)
    assert [c.op for c in collector.changes] == ["INSERT", "INSERT"]
    assert supabase.dropped == 1 and len(collector.gaps) == 1


@pytest.mark.parametrize("fault", ["drop_sockets", "close_channels", "expire_tokens"])
async def test_a_fault_is_survived_and_reported_as_a_gap(
    feed: tuple[SupabaseFeed, Collector], peer: PhoenixPeer, pool: asyncpg.Pool, user_id: UUID, fault: str
):
    """After the fault the feed resubscribes, calls on_gap once, and changes flow again."""
    _, collector = feed
    await add_task(pool, user_id, "before")
    await eventually(lambda: len(collector.changes) == 1)

    await getattr(peer, fault)()
    await eventually(lambda: len(collector.gaps) == 1)
    assert peer.joins == 2
    await add_task(pool, user_id, "after")
    await eventually(lambda: len(collector.changes) == 2)
    assert collector.changes[1].record is not None and collector.changes[1].record["description"] == "after"
    await quietly()
    assert len(collector.gaps) == 1 and peer.open_sockets == 1


async def test_changes_while_the_server_is_down_are_missed_and_reported(
    feed: tuple[SupabaseFeed, Collector], peer: PhoenixPeer, pool: asyncpg.Pool, user_id: UUID
):
    """A change made while the server refuses connections never arrives; on_gap follows the reconnect."""
    _, collector = feed
    await peer.pause()
    await add_task(pool, user_id, "missed")
    await eventually(lambda: peer.refused >= 2)  # the watchdog keeps trying, with backoff
    assert collector.gaps == []  # a gap is reported once listening again, when a re-fetch can help

    await peer.resume()
    await eventually(lambda: len(collector.gaps) == 1, timeout=10)
    await add_task(pool, user_id, "after")
    await eventually(lambda: len(collector.changes) == 1)
    assert collector.changes[0].record is not None and collector.changes[0].record["description"] == "after"


async def test_a_refreshed_access_token_is_sent_and_used_to_rejoin(
    feed: tuple[SupabaseFeed, Collector], peer: PhoenixPeer, pool: asyncpg.Pool, user_id: UUID
):
    """set_access_token() pushes the token at once; after it expires, the next one gets the feed back."""
    supabase, collector = feed
    await supabase.set_access_token("token-2")
    await eventually(lambda: peer.access_tokens == ["token-2"])

    await peer.expire_tokens(refuse=True)  # rejoining with token-2 is refused from now on
    await eventually(lambda: peer.join_errors >= 2)
    await quietly()
    assert collector.gaps == [] and peer.joins == 1

    await supabase.set_access_token("token-3")
    await eventually(lambda: len(collector.gaps) == 1, timeout=10)
    assert peer.join_tokens[-1] == "token-3"
    await add_task(pool, user_id)
    await eventually(lambda: len(collector.changes) == 1)


async def test_a_server_side_resubscription_to_postgres_is_a_gap(
    feed: tuple[SupabaseFeed, Collector], peer: PhoenixPeer
):
    """A repeated "Subscribed to PostgreSQL" means the server's subscription was re-created: on_gap."""
    _, collector = feed
    await peer.restart_cdc()
    await eventually(lambda: len(collector.gaps) == 1)
    assert peer.joins == 1


async def test_an_exception_in_on_change_does_not_stop_the_feed(
    feed: tuple[SupabaseFeed, Collector], pool: asyncpg.Pool, user_id: UUID
):
    """on_change raising for one change leaves later changes flowing, without a gap."""
    _, collector = feed
    collector.fail_next = 1
    await add_task(pool, user_id, "first")
    await add_task(pool, user_id, "second")
    await eventually(lambda: len(collector.changes) == 2)
    assert collector.gaps == []


async def test_malformed_events_are_dropped(
    feed: tuple[SupabaseFeed, Collector], peer: PhoenixPeer, pool: asyncpg.Pool, user_id: UUID
):
    """Garbage events are dropped (by realtime-py or by us) and the changes after them still flow."""
    supabase, collector = feed
    await peer.send_malformed()
    await add_task(pool, user_id, "after the garbage")
    await eventually(lambda: len(collector.changes) == 1)
    assert collector.changes[0].user_id == user_id
    assert supabase.dropped == 4  # the rest fail realtime-py's own validation, which logs and skips them
    assert collector.gaps == [] and peer.joins == 1


async def test_a_dead_realtime_listener_is_noticed(
    feed: tuple[SupabaseFeed, Collector], peer: PhoenixPeer, pool: asyncpg.Pool, user_id: UUID
):
    """If realtime-py's read loop dies on an exception (the socket still open), the watchdog resubscribes."""
    supabase, collector = feed
    subscription = supabase._subscription
    assert subscription is not None and subscription.channel is not None

    def explode(message: object) -> None:
        raise RuntimeError("a callback inside realtime-py raised")

    subscription.channel._handle_message = explode  # type: ignore[method-assign]
    await add_task(pool, user_id, "lost")
    await eventually(lambda: len(collector.gaps) == 1)
    await add_task(pool, user_id, "after")
    await eventually(lambda: len(collector.changes) == 1)
    assert collector.changes[0].record is not None and collector.changes[0].record["description"] == "after"


async def test_realtime_py_stops_delivering_after_a_callback_raises(
    peer: PhoenixPeer, pool: asyncpg.Pool, user_id: UUID
):
    """The trap itself: a raising callback ends realtime-py's listen task while the socket looks connected."""
    assert peer.url is not None
    client = AsyncRealtimeClient(realtime_url(peer.url), token=SERVICE_KEY, auto_reconnect=False)
    seen: list[object] = []

    def callback(payload: object) -> None:
        seen.append(payload)
        raise RuntimeError("boom")

    channel = client.channel("trap")
    channel.on_postgres_changes(RealtimePostgresChangesListenEvent.All, callback, table="tasks")
    try:
        await channel.subscribe()
        await add_task(pool, user_id, "first")
        await add_task(pool, user_id, "second")
        await eventually(lambda: len(seen) == 1)
        await quietly()
        assert len(seen) == 1 and client.is_connected and channel.is_joined
        listen = client._listen_task
        assert listen is not None and listen.done() and isinstance(listen.exception(), RuntimeError)
    finally:
        await client.close()
        channel.join_push.destroy()


async def test_start_fails_when_the_server_is_unreachable(peer: PhoenixPeer):
    """start() raises ConnectionError when the first subscription fails, and leaves nothing running."""
    assert peer.url is not None
    await peer.pause()
    before = asyncio.all_tasks()
    feed = SupabaseFeed(peer.url, SERVICE_KEY, watchdog_interval=INTERVAL)
    with pytest.raises(ConnectionError):
        await feed.start(Collector().on_change, Collector().on_gap)
    await feed.stop()
    assert await tasks_left_since(before) == []


async def test_stop_is_idempotent_and_leaves_no_tasks(peer: PhoenixPeer, pool: asyncpg.Pool, user_id: UUID):
    """stop() twice is fine, and nothing the feed or realtime-py started is left running, even after faults."""
    assert peer.url is not None
    before = asyncio.all_tasks()
    feed = SupabaseFeed(peer.url, SERVICE_KEY, watchdog_interval=INTERVAL)
    collector = Collector()
    await feed.start(collector.on_change, collector.on_gap)
    await feed.set_access_token("token-2")  # its push waits for an ack that never comes
    await peer.close_channels()
    await eventually(lambda: len(collector.gaps) == 1)
    await add_task(pool, user_id)
    await eventually(lambda: len(collector.changes) == 1)

    await feed.stop()
    await feed.stop()
    assert await tasks_left_since(before) == []
    await add_task(pool, user_id)
    await quietly()
    assert len(collector.changes) == 1


async def tasks_left_since(before: set[asyncio.Task[object]], timeout: float = 3.0) -> list[str]:
    """Tasks started since ``before`` still running once the peer's side of the sockets wound down."""
    deadline = time.monotonic() + timeout
    while True:
        left = [repr(t.get_coro()) for t in asyncio.all_tasks() - before if not t.done()]
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.02)
