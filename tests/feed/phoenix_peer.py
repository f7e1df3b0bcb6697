"""A stand-in for Supabase Realtime: Phoenix channels (vsn 1.0.0 JSON) with ``postgres_changes`` from a real database.

What it speaks, as realtime-py 2.34 and the Realtime server do:

* client frames are objects ``{"topic", "event", "payload", "ref", "join_ref"}``; server frames are
  objects ``{"topic", "event", "payload", "ref"}`` (Phoenix's V1 serializer has no ``join_ref``), with
  ``"ref": null`` on pushes.
* ``phx_join`` on ``realtime:<name>`` with ``config.postgres_changes`` bindings: ``phx_reply`` ok echoing
  each binding with an ``id`` (a hash of the binding, like the server's ``phash2``), then a ``system``
  message "Subscribed to PostgreSQL"; events are streamed only from then on.
* ``heartbeat`` on ``phoenix`` gets an ok reply; ``access_token`` is taken without a reply; ``phx_leave``
  gets an ok reply, then ``phx_close`` with the join ref; an event for a topic not joined gets an error
  reply ``unmatched topic``.
* A server-side shutdown (e.g. an expired token) is a ``system`` message with status ``error`` and
  then ``phx_close``, as ``RealtimeChannel.shutdown_response/2`` does.

Changes come from PostgreSQL: the peer installs a trigger that ``pg_notify``s every row change of the
watched tables and LISTENs for it. Like Supabase (walrus' ``apply_rls``), the old row is whole only with
``REPLICA IDENTITY FULL``, and a DELETE on a table with row level security carries only the primary key.

Serve it with ``tests.utils.run_server(peer)``; the websocket is at ``/realtime/v1/websocket``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import asyncpg
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

logger = logging.getLogger(__name__)

PATH = "/realtime/v1/websocket"
NOTIFY_CHANNEL = "phoenix_peer"
EVENTS = ("*", "INSERT", "UPDATE", "DELETE")

_INSTALL = """
CREATE OR REPLACE FUNCTION phoenix_peer_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    rel record;
    old_row jsonb;
BEGIN
    SELECT c.relreplident, c.relrowsecurity INTO rel FROM pg_class c WHERE c.oid = TG_RELID;
    IF TG_OP <> 'INSERT' THEN
        old_row := to_jsonb(OLD);
        IF rel.relreplident <> 'f' OR (TG_OP = 'DELETE' AND rel.relrowsecurity) THEN
            SELECT jsonb_object_agg(a.attname, old_row -> a.attname) INTO old_row
            FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
            WHERE i.indrelid = TG_RELID AND i.indisprimary;
        END IF;
    END IF;
    PERFORM pg_notify('{channel}', jsonb_build_object(
        'schema', TG_TABLE_SCHEMA,
        'table', TG_TABLE_NAME,
        'type', TG_OP,
        'commit_timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'columns', (SELECT jsonb_agg(jsonb_build_object('name', a.attname, 'type', t.typname) ORDER BY a.attnum)
                    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                    WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped),
        'record', CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END,
        'old_record', old_row
    )::text);
    RETURN NULL;
END
$$;
"""


def binding_id(binding: dict[str, Any]) -> int:
    """A stable, non-zero id per binding (realtime-py ignores id 0: ``if self.id and ...``)."""
    return zlib.crc32(json.dumps(binding, sort_keys=True).encode()) or 1


@dataclass
class _Joined:
    join_ref: str | None
    bindings: list[dict[str, Any]]
    token: str | None


@dataclass(eq=False)
class _Connection:
    ws: WebSocket
    transport: asyncio.Transport | None
    channels: dict[str, _Joined] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, topic: str, event: str, payload: Any, ref: str | None = None) -> None:
        async with self.lock:
            await self.send_locked(topic, event, payload, ref)

    async def send_locked(self, topic: str, event: str, payload: Any, ref: str | None = None) -> None:
        with contextlib.suppress(Exception):  # the socket went away: its reader loop ends it
            await self.ws.send_text(json.dumps({"topic": topic, "event": event, "payload": payload, "ref": ref}))


def _matches(binding: dict[str, Any], data: dict[str, Any]) -> bool:
    if binding.get("event") not in ("*", data["type"]):
        return False
    if binding.get("schema", "public") not in ("*", data["schema"]):
        return False
    if binding.get("table") not in (None, "*", data["table"]):
        return False
    if binding.get("filter"):
        column, _, value = binding["filter"].partition("=eq.")
        row = data.get("record") or data.get("old_record") or {}
        return str(row.get(column)) == value
    return True


class PhoenixPeer:
    """The ASGI app of the fake Realtime server, with fault knobs and counters."""

    def __init__(self, dsn: str, *, tables: tuple[str, ...] = ("tasks", "prototype_interactions")) -> None:
        self.dsn = dsn
        self.tables = tables
        self.url: str | None = None
        """The base URL it is served at; the test fixture fills it in."""
        # Counters and what clients sent.
        self.connections = 0
        self.refused = 0
        self.joins = 0
        self.join_errors = 0
        self.heartbeats = 0
        self.join_tokens: list[str | None] = []
        self.access_tokens: list[str] = []
        self.queries: list[dict[str, list[str]]] = []
        self.events_sent = 0
        self.paused = False
        self._expired: set[str] = set()
        self._sockets: set[_Connection] = set()
        self._notes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._listener: asyncpg.Connection | None = None
        self._dispatcher: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PhoenixPeer:
        conn = await asyncpg.connect(self.dsn)
        await conn.execute(_INSTALL.replace("{channel}", NOTIFY_CHANNEL))
        for table in self.tables:
            await conn.execute(
                f"DROP TRIGGER IF EXISTS phoenix_peer_notify ON {table};"
                f"CREATE TRIGGER phoenix_peer_notify AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION phoenix_peer_notify()"
            )
        await conn.add_listener(NOTIFY_CHANNEL, self._notified)
        self._listener = conn
        self._dispatcher = asyncio.create_task(self._dispatch(), name="phoenix-peer-dispatch")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        if self._listener is not None:
            for table in self.tables:
                await self._listener.execute(f"DROP TRIGGER IF EXISTS phoenix_peer_notify ON {table}")
            await self._listener.execute("DROP FUNCTION IF EXISTS phoenix_peer_notify()")
            await self._listener.close()

    @property
    def open_sockets(self) -> int:
        return len(self._sockets)

    @property
    def joined(self) -> dict[str, list[dict[str, Any]]]:
        """The bindings (with their ids) of every joined channel, by topic."""
        return {topic: joined.bindings for conn in self._sockets for topic, joined in conn.channels.items()}

    # Fault knobs

    async def drop_sockets(self) -> None:
        """Abort every TCP connection, without a close frame: what a network cut looks like."""
        for conn in list(self._sockets):
            conn.channels.clear()
            if conn.transport is not None:
                conn.transport.abort()
            else:  # not served by uvicorn: the nearest thing is an abnormal close
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=1011)

    async def close_channels(self) -> None:
        """Close every joined channel from the server side (``phx_close``); sockets stay open."""
        for conn in list(self._sockets):
            async with conn.lock:
                for topic, joined in list(conn.channels.items()):
                    del conn.channels[topic]
                    await conn.send_locked(topic, "phx_close", {}, joined.join_ref)

    async def expire_tokens(self, *, refuse: bool = False) -> None:
        """Shut channels down as the server does when their token expires; with ``refuse``, also
        refuse later joins with those tokens."""
        for conn in list(self._sockets):
            async with conn.lock:
                for topic, joined in list(conn.channels.items()):
                    if refuse and joined.token:
                        self._expired.add(joined.token)
                    del conn.channels[topic]
                    system = {
                        "status": "error",
                        "message": "Token has expired 0 seconds ago",
                        "extension": "system",
                        "channel": topic.removeprefix("realtime:"),
                    }
                    await conn.send_locked(topic, "system", system)
                    await conn.send_locked(topic, "phx_close", {}, joined.join_ref)

    async def restart_cdc(self) -> None:
        """Repeat "Subscribed to PostgreSQL", as the server does after its replication process restarted."""
        for conn in list(self._sockets):
            for topic in list(conn.channels):
                await conn.send(topic, "system", self._subscribed(topic))

    async def send_malformed(self) -> int:
        """Send garbage to every joined channel; return how many frames each got.

        Some are rejected by realtime-py's own validation, the rest reach the client's callbacks.
        """
        for conn in list(self._sockets):
            for topic, joined in list(conn.channels.items()):
                for payload in _garbage([b["id"] for b in joined.bindings]):
                    await conn.send(topic, "postgres_changes", payload)
                async with conn.lock:
                    with contextlib.suppress(Exception):
                        await conn.ws.send_text("{not json")
        return len(_garbage([])) + 1

    async def pause(self) -> None:
        """Be down: drop every socket, refuse new ones (HTTP 503), and stream nothing."""
        self.paused = True
        await self.drop_sockets()

    async def resume(self) -> None:
        """Be up again; changes made meanwhile are lost, as with the real server."""
        self.paused = False

    # ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()  # lifespan.startup
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            await send({"type": "lifespan.shutdown.complete"})
        elif scope["type"] == "websocket":
            await self._serve(scope, receive, send)
        else:
            await Response(status_code=404)(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        ws = WebSocket(scope, receive, send)
        query = parse_qs(scope["query_string"].decode())
        self.queries.append(query)
        if scope["path"] != PATH:
            await ws.send_denial_response(Response(status_code=404))
            return
        if self.paused:
            self.refused += 1
            await ws.send_denial_response(Response(status_code=503))
            return
        if not query.get("apikey") or query.get("vsn") != ["1.0.0"]:
            self.refused += 1
            await ws.send_denial_response(Response(status_code=403))
            return
        await ws.accept()
        # uvicorn hands the app its protocol's bound ``send``: its transport lets drop_sockets() abort TCP.
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        conn = _Connection(ws, transport)
        self._sockets.add(conn)
        self.connections += 1
        apikey = query["apikey"][0]
        try:
            while True:
                text = await ws.receive_text()
                try:
                    await self._handle(conn, json.loads(text), apikey)
                except Exception:
                    logger.exception("phoenix peer: bad frame %r", text[:200])
        except WebSocketDisconnect:
            pass
        finally:
            self._sockets.discard(conn)

    async def _handle(self, conn: _Connection, frame: dict[str, Any], apikey: str) -> None:
        topic, event, payload, ref = frame["topic"], frame["event"], frame.get("payload") or {}, frame.get("ref")
        if topic == "phoenix" and event == "heartbeat":
            self.heartbeats += 1
            await conn.send(topic, "phx_reply", {"status": "ok", "response": {}}, ref)
        elif event == "phx_join":
            await self._join(conn, topic, payload, ref, frame.get("join_ref") or ref, apikey)
        elif topic not in conn.channels:
            await conn.send(topic, "phx_reply", {"status": "error", "response": {"reason": "unmatched topic"}}, ref)
        elif event == "phx_leave":
            async with conn.lock:
                joined = conn.channels.pop(topic)
                await conn.send_locked(topic, "phx_reply", {"status": "ok", "response": {}}, ref)
                await conn.send_locked(topic, "phx_close", {}, joined.join_ref)
        elif event == "access_token":
            token = payload.get("access_token")
            if isinstance(token, str):
                self.access_tokens.append(token)
                conn.channels[topic].token = token
        # Anything else the real server logs and ignores.

    async def _join(
        self, conn: _Connection, topic: str, payload: dict[str, Any], ref: str | None, join_ref: str | None, apikey: str
    ) -> None:
        token = payload.get("access_token") or apikey
        bindings = [b for b in (payload.get("config") or {}).get("postgres_changes") or [] if b]
        reason = None
        if not topic.startswith("realtime:") or topic == "realtime:":
            reason = "TopicNameRequired: You must provide a topic name"
        elif token in self._expired:
            reason = "InvalidJWTToken: Token has expired 0 seconds ago"
        elif any(b.get("event") not in EVENTS or ("filter" in b and "=eq." not in b["filter"]) for b in bindings):
            reason = "Unable to subscribe to changes with given parameters"  # the peer knows only eq filters
        if reason is not None:
            self.join_errors += 1
            await conn.send(topic, "phx_reply", {"status": "error", "response": {"reason": reason}}, ref)
            return
        with_ids = [{**b, "id": binding_id(b)} for b in bindings]
        # Under the lock, so no change is streamed before the reply and the "Subscribed" message.
        async with conn.lock:
            previous = conn.channels.pop(topic, None)
            if previous is not None:  # Phoenix closes a duplicate join of the same topic
                await conn.send_locked(topic, "phx_close", {}, previous.join_ref)
            conn.channels[topic] = _Joined(join_ref, with_ids, token)
            self.joins += 1
            self.join_tokens.append(payload.get("access_token"))
            await conn.send_locked(
                topic, "phx_reply", {"status": "ok", "response": {"postgres_changes": with_ids}}, ref
            )
            if with_ids:
                await conn.send_locked(topic, "system", self._subscribed(topic))

    @staticmethod
    def _subscribed(topic: str) -> dict[str, str]:
        channel = topic.removeprefix("realtime:")
        return {
            "status": "ok",
            "message": "Subscribed to PostgreSQL",
            "extension": "postgres_changes",
            "channel": channel,
        }

    # PostgreSQL side

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self._notes.put_nowait(json.loads(payload))

    async def _dispatch(self) -> None:
        while True:
            note = await self._notes.get()
            if self.paused:
                continue  # the server is down: nobody hears about it, ever
            data = {
                "schema": note["schema"],
                "table": note["table"],
                "commit_timestamp": note["commit_timestamp"],
                "type": note["type"],
                "columns": note["columns"],
                "errors": None,
            }
            # Like walrus: "record" for INSERT/UPDATE, "old_record" for UPDATE/DELETE.
            if note["record"] is not None:
                data["record"] = note["record"]
            if note["type"] != "INSERT":
                data["old_record"] = note["old_record"]
            for conn in list(self._sockets):
                for topic, joined in list(conn.channels.items()):
                    ids = [b["id"] for b in joined.bindings if _matches(b, data)]
                    if ids:
                        self.events_sent += 1
                        await conn.send(topic, "postgres_changes", {"ids": ids, "data": data})


def _garbage(ids: list[int]) -> list[dict[str, Any]]:
    """``postgres_changes`` payloads that no client can turn into a change."""
    good = {
        "schema": "public",
        "table": "tasks",
        "type": "INSERT",
        "commit_timestamp": "2025-01-01T00:00:00.000Z",
        "columns": [{"name": "id", "type": "uuid"}, {"name": "user_id", "type": "uuid"}],
        "errors": None,
    }
    someone = "00000000-0000-0000-0000-000000000001"
    return [
        {"ids": ids, "data": "garbage"},  # fails realtime-py's validation
        {"ids": "garbage"},  # likewise
        {"ids": ids, "data": {**good, "record": {"id": 1, "user_id": "not-a-uuid"}}},
        {"ids": ids, "data": {**good, "record": {"id": 1}}},
        {"ids": ids, "data": {**good, "record": "garbage"}},
        {"ids": ids, "data": {**good, "type": "TRUNCATE", "record": {"user_id": someone}}},
        {"ids": ids, "data": {**good, "table": "users", "record": {"user_id": someone}}},
        {"ids": ids, "data": {**good, "errors": ["Error 413: Payload Too Large"], "record": {"user_id": someone}}},
    ]
