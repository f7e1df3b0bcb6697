"""The production change feed: Supabase Realtime ``postgres_changes`` over realtime-py's AsyncRealtimeClient.

realtime-py 2.34.1 (``realtime/_async``) has traps this module works around; each was checked in the
installed source:

* Callbacks are called synchronously from the socket's read loop (``channel.py:753``, ``types.py:149``):
  a coroutine function would only produce an un-awaited coroutine. Ours are plain functions that put
  work on a queue; a task of ours awaits ``on_change``.
* The read loop catches only ``ConnectionClosedError`` (``client.py:107-120``): anything a callback
  raises ends the listen task, nobody awaits it, and the socket still looks connected, so every later
  event is silently lost. Every callback of ours catches everything, and the watchdog also checks that
  the listen and heartbeat tasks are still running.
* ``connect()`` gives up after ``max_retries`` (backoff 1+2+4+8 s by default, ``client.py:199-230``) by
  raising inside the listen task, which nobody awaits: no notice at all. We run the client with
  ``auto_reconnect=False`` so the watchdog is the only thing that reconnects, always with a fresh client.
* A channel closed by the server (``phx_close``) is dropped from the client and never rejoined
  (``channel.py:171-176``), ``subscribe()`` works once per channel object (``channel.py:251-254``), and
  ``client.channel(topic)`` hands back an existing errored channel (``client.py:355-357``): recovery
  needs new channel objects, which a fresh client guarantees.
* The server does not replay changes missed while we were away, and it streams only after its
  ``system`` "Subscribed to PostgreSQL" message (not at the join reply): ``on_gap`` is reported once
  that message arrives on a re-subscription, so clients re-fetch after the feed is really listening.
* The heartbeat has a 15 s floor (``client.py:331``) and never checks replies; a half-open socket is
  noticed by websockets' own keepalive pings.
* Binding ids are matched with ``if self.id and ...`` (``types.py:148``): a binding id of 0 never fires.

DELETE events: Supabase sends only the primary key in ``old_record`` unless the table has
``REPLICA IDENTITY FULL``, and even then only the primary key when the table has row level security
enabled (walrus' ``apply_rls``). A DELETE whose ``old_record`` has no ``user_id`` cannot be routed and
is dropped (counted in ``dropped``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast
from urllib.parse import urlparse
from uuid import UUID

from realtime import (
    AsyncRealtimeChannel,
    AsyncRealtimeClient,
    RealtimePostgresChangesListenEvent,
    RealtimeSubscribeStates,
)

from .base import TABLES, Change, ChangeFeed, OnChange, OnGap, Operation, Table, count_change, count_gap

logger = logging.getLogger(__name__)

TOPIC = "sensay-hub-changes"
OPERATIONS: tuple[Operation, ...] = ("INSERT", "UPDATE", "DELETE")
OWNER_CACHE_SIZE = 100_000
_STATE_REASONS = {
    RealtimeSubscribeStates.CHANNEL_ERROR: "channel error",
    RealtimeSubscribeStates.CLOSED: "channel closed",
    RealtimeSubscribeStates.TIMED_OUT: "channel join timed out",
}
ClientFactory = Callable[[str, str], AsyncRealtimeClient]
"""Builds a client from the realtime URL (``https://xyz.supabase.co/realtime/v1``) and the key."""


def default_client(realtime_url: str, key: str) -> AsyncRealtimeClient:
    """A client that never reconnects on its own: the feed's watchdog owns reconnection."""
    return AsyncRealtimeClient(realtime_url, token=key, auto_reconnect=False)


def realtime_url(project_url: str) -> str:
    """``https://xyz.supabase.co`` -> ``https://xyz.supabase.co/realtime/v1``.

    realtime-py turns that into ``wss://xyz.supabase.co/realtime/v1/websocket?apikey=...&vsn=1.0.0``
    (``ws://`` for ``http://``).
    """
    parsed = urlparse(project_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"not a Supabase project URL: {project_url!r}")
    return project_url.rstrip("/") + "/realtime/v1"


def parse_change(
    payload: Any, tables: Iterable[str], schema: str, owner_of: Callable[[Any], UUID | None] | None = None
) -> Change:
    """Turn a ``postgres_changes`` payload into a ``Change``; ``ValueError`` says why it cannot be.

    ``owner_of(row_id)`` answers for a DELETE whose old row carries only its primary key (Supabase cuts it
    down so when the table has row level security).
    """
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise ValueError("no data")
    if data.get("schema") != schema or str(data.get("table")) not in tables:
        raise ValueError(f"unexpected table {data.get('schema')}.{data.get('table')}")
    op = getattr(data.get("type"), "value", data.get("type"))  # realtime-py parses it into a str Enum
    if op not in OPERATIONS:
        raise ValueError(f"unexpected type {op!r}")
    if data.get("errors"):
        # e.g. "Error 413: Payload Too Large" (values over 64 bytes removed) or "Error 401: Unauthorized"
        raise ValueError(f"server reported {data['errors']!r}")
    record, old_record = data.get("record"), data.get("old_record")
    if record is not None and not isinstance(record, dict):
        raise ValueError("record is not an object")
    if old_record is not None and not isinstance(old_record, dict):
        raise ValueError("old_record is not an object")
    owner_row = old_record if op == "DELETE" else record
    owner = (owner_row or {}).get("user_id")
    if owner is None and op == "DELETE" and owner_of is not None:
        known = owner_of((old_record or {}).get("id"))
        owner = str(known) if known is not None else None
    if not isinstance(owner, str):
        raise ValueError("no user_id" + (" (old_record needs REPLICA IDENTITY FULL)" if op == "DELETE" else ""))
    try:
        user_id = UUID(owner)
    except ValueError:
        raise ValueError("user_id is not a UUID") from None
    timestamp = data.get("commit_timestamp")
    return Change(
        table=cast(Table, data["table"]),
        op=cast(Operation, op),
        user_id=user_id,
        record=record if op != "DELETE" else None,
        old_record=old_record or None,
        commit_timestamp=timestamp if isinstance(timestamp, str) else None,
    )


@dataclass(eq=False)
class _Subscription:
    """One client and its channel; replaced wholesale on any trouble."""

    client: AsyncRealtimeClient
    gap: str | None  # reported once this subscription is listening, if it follows a gap
    channel: AsyncRealtimeChannel | None = None
    listening: bool = False
    trouble: str | None = None
    settled: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True, slots=True)
class _Gap:
    reason: str  # goes to every client: no internals (those are logged)


class SupabaseFeed(ChangeFeed):
    """Changes of ``tables`` from Supabase Realtime, with a watchdog that resubscribes and reports gaps.

    Uses a realtime client of its own with the service key: the one of a supabase-py client switches to
    a user's token on sign-in (``supabase/_async/client.py:360``), which RLS would then filter.
    """

    def __init__(
        self,
        url: str,
        service_key: str,
        *,
        tables: Iterable[Table] = TABLES,
        schema: str = "public",
        watchdog_interval: float = 5.0,
        max_backoff: float = 30.0,
        client_factory: ClientFactory | None = None,
    ) -> None:
        self.realtime_url = realtime_url(url)
        self.tables: tuple[Table, ...] = tuple(tables)
        unknown = set(self.tables) - set(TABLES)
        if unknown:
            raise ValueError(f"unknown tables: {sorted(unknown)}")
        self.schema = schema
        self.watchdog_interval = watchdog_interval
        self.max_backoff = max_backoff
        self.dropped = 0
        self._owners: OrderedDict[Any, UUID] = OrderedDict()  # row id -> owner, for trimmed DELETEs
        """Events that could not be turned into a ``Change`` (malformed, unknown table, no owner)."""
        self._service_key = service_key
        self._access_token: str | None = None
        self._client_factory = client_factory or default_client
        self._subscription: _Subscription | None = None
        self._last_payload: Any = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._stopped = False

    async def start(self, on_change: OnChange, on_gap: OnGap) -> None:
        """Subscribe and return once listening, then keep subscribed.

        Raises ``ConnectionError`` if the first subscription fails (a wrong URL or key should be loud).
        """
        if self._started or self._stopped:
            raise RuntimeError("SupabaseFeed.start() called twice, or after stop()")
        self._started = True
        try:
            await self._subscribe(gap=None)
        except Exception as exc:
            self._started = False  # may be retried
            raise ConnectionError(f"supabase realtime: could not subscribe: {exc}") from exc
        self._tasks = [
            asyncio.create_task(self._deliver(on_change, on_gap), name="supabase-feed-deliver"),
            asyncio.create_task(self._watch(), name="supabase-feed-watchdog"),
        ]

    async def stop(self) -> None:
        """Cancel the watchdog and delivery, and close the client; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            await self._dispose(subscription)

    async def set_access_token(self, token: str) -> None:
        """Use ``token`` (a JWT) instead of the service key for authorization, now and after reconnects.

        The service key itself is long-lived; this is for deployments that mint short-lived tokens.
        """
        self._access_token = token
        subscription = self._subscription
        if subscription is not None:
            try:
                await subscription.client.set_auth(token)
            except Exception:  # a broken socket: the watchdog rejoins with the new token
                logger.warning("supabase feed: could not send the new access token", exc_info=True)

    # The watchdog

    async def _watch(self) -> None:
        pending_gap: str | None = None  # the first cause, kept until a resubscription succeeds
        failures = 0
        while True:
            problem = self._problem()
            if problem is None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.watchdog_interval):
                        await self._wake.wait()
                self._wake.clear()
                continue
            pending_gap = pending_gap or problem
            logger.warning("supabase feed: %s; resubscribing", problem)
            try:
                await self._subscribe(gap=pending_gap)
            except Exception as exc:
                failures += 1
                delay = min(self.watchdog_interval * 2 ** (failures - 1), self.max_backoff)
                logger.warning("supabase feed: resubscribe failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)  # not woken early: callbacks of a failing client would spin us
                continue
            pending_gap, failures = None, 0

    def _problem(self) -> str | None:
        """Why the current subscription cannot be trusted, or None if it can."""
        subscription = self._subscription
        if subscription is None:
            return "not subscribed"
        if subscription.trouble:
            return subscription.trouble
        client, channel = subscription.client, subscription.channel
        if not client.is_connected:
            return "socket closed"
        # A callback that raised (ours never do, the library's might) ends these without any notice.
        for name in ("_listen_task", "_heartbeat_task"):
            task = getattr(client, name, None)
            if task is not None and task.done():
                return f"realtime client's {name.strip('_').replace('_', ' ')} ended"
        if channel is None or not channel.is_joined or client.channels.get(channel.topic) is not channel:
            return f"channel {channel.state.value if channel else 'missing'}"
        return None

    async def _subscribe(self, gap: str | None) -> None:
        """Replace any current client with a fresh one, joined and listening."""
        old, self._subscription = self._subscription, None
        if old is not None:
            await self._dispose(old)
        subscription = _Subscription(self._client_factory(self.realtime_url, self._service_key), gap)
        client = subscription.client
        timeout = float(getattr(client, "timeout", 10))
        token = self._access_token
        try:
            if token is not None:
                await client.set_auth(token)
            await asyncio.wait_for(client.connect(), timeout + 1)
            channel = client.channel(TOPIC)
            subscription.channel = channel
            for table in self.tables:
                channel.on_postgres_changes(
                    RealtimePostgresChangesListenEvent.All, self._on_postgres_change, table=table, schema=self.schema
                )
            channel.on_system(partial(self._on_system, subscription))
            await asyncio.wait_for(channel.subscribe(partial(self._on_state, subscription)), timeout + 1)
            if not channel.is_joined:
                raise ConnectionError(subscription.trouble or f"join ended {channel.state.value}")
            try:
                await asyncio.wait_for(subscription.settled.wait(), timeout)
            except TimeoutError:
                logger.warning(
                    "supabase feed: joined, but no 'Subscribed to PostgreSQL' in %.0fs; assuming so", timeout
                )
                self._listening(subscription)
            if subscription.trouble:
                raise ConnectionError(subscription.trouble)
            if self._access_token != token:  # set_access_token() ran meanwhile, with no client to tell
                await client.set_auth(self._access_token)
        except BaseException:
            await self._dispose(subscription)
            raise
        self._subscription = subscription

    async def _dispose(self, subscription: _Subscription) -> None:
        """Close the client and cancel everything it may still have scheduled."""
        client = subscription.client
        ws = getattr(client, "_ws_connection", None)
        tasks = [t for t in (getattr(client, "_listen_task", None), getattr(client, "_heartbeat_task", None)) if t]
        channels = {id(c): c for c in [subscription.channel, *client.channels.values()] if c is not None}
        try:
            await asyncio.wait_for(client.close(), 2)
        except Exception:
            logger.debug("supabase feed: closing the realtime client failed", exc_info=True)
        if ws is not None and ws.transport is not None:
            ws.transport.abort()  # no-op if the close handshake finished; else do not wait for a dead peer
        # close() leaves per-channel timers running (rejoin, push timeouts of up to `timeout` seconds).
        for channel in channels.values():
            channel.rejoin_timer.reset()
            channel.join_push.destroy()
            buffered = getattr(channel, "_push_buffer", [])
            for push in [*channel.messages_waiting_for_ack.values(), *buffered]:
                push.destroy()
            channel.messages_waiting_for_ack.clear()
            buffered.clear()
            tasks.extend(getattr(channel, "_background_tasks", ()))
        for task in tasks:
            if task is not asyncio.current_task():
                task.cancel()
        # Await them so their exceptions count as retrieved ("Task exception was never retrieved").
        await asyncio.gather(*(t for t in tasks if t is not asyncio.current_task()), return_exceptions=True)

    # realtime-py callbacks: synchronous, and they must never raise (see the module docstring).

    def _on_postgres_change(self, payload: Any) -> None:
        try:
            # realtime-py calls this once per binding whose id the event lists: one event, one change.
            if payload is self._last_payload:
                return
            self._last_payload = payload
            self._queue.put_nowait(payload)
        except Exception:
            logger.exception("supabase feed: could not queue a change")

    def _on_system(self, subscription: _Subscription, payload: Any) -> None:
        try:
            if payload.extension != "postgres_changes" or payload.status != "ok":
                return
            if not subscription.listening:
                self._listening(subscription)
            elif subscription is self._subscription:
                # The server re-created its PostgreSQL subscription (e.g. its CDC process restarted):
                # changes in between are not replayed.
                logger.warning("supabase feed: the realtime server re-subscribed to PostgreSQL")
                self._queue.put_nowait(_Gap("the change feed's server was interrupted"))
        except Exception:
            logger.exception("supabase feed: system message callback failed")

    def _on_state(self, subscription: _Subscription, state: RealtimeSubscribeStates, error: Exception | None) -> None:
        try:
            if state == RealtimeSubscribeStates.SUBSCRIBED:
                return
            reason = _STATE_REASONS.get(state, f"channel {state.value}") + (f": {error}" if error else "")
            subscription.trouble = subscription.trouble or reason
            subscription.settled.set()
            if subscription is self._subscription:
                self._wake.set()
        except Exception:
            logger.exception("supabase feed: subscribe state callback failed")

    def _listening(self, subscription: _Subscription) -> None:
        subscription.listening = True
        subscription.settled.set()
        if subscription.gap is not None:
            logger.warning("supabase feed: listening again after: %s", subscription.gap)
            # Queued here, in the read loop, so it precedes every change of the new subscription.
            self._queue.put_nowait(_Gap("the change feed was interrupted"))

    # Delivery

    def _remember_owner(self, change: Change) -> None:
        row = change.record or change.old_record or {}
        if change.op == "DELETE":
            self._owners.pop(row.get("id"), None)
            return
        if "id" in row:
            self._owners[row["id"]] = change.user_id
            self._owners.move_to_end(row["id"])
            if len(self._owners) > OWNER_CACHE_SIZE:
                self._owners.popitem(last=False)

    async def _deliver(self, on_change: OnChange, on_gap: OnGap) -> None:
        while True:
            item = await self._queue.get()
            if isinstance(item, _Gap):
                count_gap("supabase")
                try:
                    await on_gap(item.reason + "; changes may have been missed")
                except Exception:
                    logger.exception("supabase feed: on_gap failed")
                continue
            try:
                change = parse_change(item, self.tables, self.schema, self._owners.get)
            except (ValueError, TypeError, AttributeError) as exc:
                self.dropped += 1
                logger.warning("supabase feed: dropped an event: %s (%s)", exc, _describe(item))
                if _is_delete(item):
                    # A deletion we cannot route: its owner's tabs would keep a stale row, so everyone re-fetches.
                    with contextlib.suppress(Exception):
                        await on_gap("a deletion could not be routed; re-fetch")
                continue
            self._remember_owner(change)
            count_change(change, "supabase")
            try:
                await on_change(change)
            except Exception:  # one bad change must not stop the feed
                logger.exception("supabase feed: on_change failed for %s %s", change.op, change.table)


def _is_delete(payload: Any) -> bool:
    data = payload.get("data") if isinstance(payload, dict) else None
    return isinstance(data, dict) and getattr(data.get("type"), "value", data.get("type")) == "DELETE"


def _describe(payload: Any) -> str:
    """Enough of an event to find it, without row values (they may be personal data)."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        return f"payload of type {type(payload).__name__}"
    keys = {k: sorted(v) for k in ("record", "old_record") if isinstance(v := data.get(k), dict)}
    op = getattr(data.get("type"), "value", data.get("type"))
    return f"{data.get('schema')}.{data.get('table')} {op} columns={keys}"
