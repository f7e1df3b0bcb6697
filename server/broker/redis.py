"""The Redis broker: pub/sub between every process and node that shares ``REDIS_URL``.

Redis pub/sub delivers at most once: a frame published while a subscriber's connection is down is gone. The
broker never lets that pass unseen:

- when its subscription connection comes back (redis-py reconnects and re-subscribes), every channel it was
  subscribed to is reported to the gap listener: frames on them may have been lost;
- ``must_arrive`` payloads (commands) go through a Redis Stream instead of pub/sub, so no reader misses them,
  and are kept through an outage;
- a publish is retried a few times with backoff (the client's retry policy); if it still fails, the payload is
  delivered to this process's own subscribers (through the local listener), the channel is marked gapped, later
  publishes skip Redis until it answers again, and once it does a gap notice naming the channels (and the first
  seq lost per stream) goes to every process, which reports them to its gap listener. Each failure is logged and
  counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections import deque
from functools import partial
from typing import Any, Final, cast

import msgspec
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .. import metrics
from ..logs import log_task_failure
from .base import Broker, Gap, GapListener, Listener, Position

logger = logging.getLogger(__name__)

GAP_CHANNEL: Final = "broker.gaps"
"""Where a process announces channels whose frames it failed to publish."""
COMMANDS_STREAM: Final = "broker.commands"
"""A Redis Stream of ``must_arrive`` payloads: each process reads on from the last entry it saw, so a reader cut
off for a while (or a Redis restarted empty: new entries get later ids) catches up instead of losing them."""
COMMANDS_MAXLEN: Final = 10_000

PUBLISH_RETRIES: Final = 3
MAX_KEPT: Final = 1000
"""Most ``must_arrive`` payloads kept through an outage; older ones are dropped (logged and counted)."""
HEALTH_CHECK_SECONDS: Final = 5
"""An idle subscription is pinged this often, so a dead connection is noticed without traffic."""
RECONNECT_MIN, RECONNECT_MAX = 0.1, 2.0
"""Backoff bounds (seconds) between attempts to reach Redis again."""
STOP_SECONDS: Final = 10.0
"""Most time ``disconnect`` waits for the background tasks to end (a read returns within a few seconds)."""

REDIS_DOWN: Final = (RedisConnectionError, RedisTimeoutError, OSError)
"""What a call raises when Redis does not answer. redis-py's pubsub raises other errors too when two tasks use its
one connection while it reconnects (seen around a Redis restart: ``AttributeError`` on a writer another task's
reconnect had just closed, ``RuntimeError`` from two reads at once): the broker treats any error of a subscribe or
a read as a broken subscription (deferred, re-subscribed, reported as a gap), never as the end of it."""

RECONNECTED: Final = "broker reconnected: frames may have been missed"
PUBLISH_FAILED: Final = "a frame could not be published during a broker outage"


class GapNotice(msgspec.Struct, frozen=True):
    """Channels whose frames ``sender`` failed to publish, and per channel and stream the first seq it failed."""

    sender: str
    channels: list[str]
    lost_from: dict[str, dict[str, int]] = {}


POOL_SIZE: Final = 100
POOL_WAIT_SECONDS: Final = 5.0
"""A burst of more concurrent Redis calls than ``POOL_SIZE`` waits this long for a connection: redis-py's default
pool refuses the 101st at once ("Too many connections"), which would read as an outage and resync every socket."""


def create_client(url: str) -> Redis:
    """A client that retries briefly with backoff, pings idle connections, gives up on a dead server fast, and
    queues bursts for a pooled connection instead of failing them."""
    return Redis.from_pool(
        BlockingConnectionPool.from_url(
            url,
            max_connections=POOL_SIZE,
            timeout=POOL_WAIT_SECONDS,
            decode_responses=True,
            health_check_interval=HEALTH_CHECK_SECONDS,
            socket_connect_timeout=2.0,
            socket_timeout=5.0,
            socket_keepalive=True,
            retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), PUBLISH_RETRIES),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
    )


class RedisBroker(Broker):
    def __init__(self, url: str | None = None, *, client: Redis | None = None) -> None:
        if client is None and url is None:
            raise ValueError("give a Redis URL or a client")
        self.client = client if client is not None else create_client(url)  # type: ignore[arg-type]
        self._pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self._id = uuid.uuid4().hex
        self._listener: Listener | None = None
        self._local_listener: Listener | None = None
        self._on_gap: GapListener | None = None
        self._reader: asyncio.Task[None] | None = None
        self._gapped: dict[str, dict[str, int]] = {}
        """Channels whose publishes failed (with the first seq failed per stream), to announce once Redis answers."""
        self._kept: deque[tuple[str, str]] = deque()
        """``must_arrive`` payloads that failed, to publish (in order) once Redis answers."""
        self._announcer: asyncio.Task[None] | None = None
        self._skipping = False
        """Publishes skip Redis: from a failed one until Redis answers again."""
        self._down_since: float | None = None
        """When the subscription was found broken; ``None`` while it holds."""
        self._deferred: set[str] = set()
        """Channels subscribed while Redis was down: subscribed again once it is back, in case they came too late
        for redis-py's own re-subscription."""
        self._resubscriber: asyncio.Task[None] | None = None
        self._commands: asyncio.Task[None] | None = None
        self._last_command = "0-0"
        self._notices = msgspec.json.Decoder(GapNotice)
        self._stopping = False
        """Set by ``disconnect``: the reading loops end on it, not on cancellation alone (redis-py's pubsub read can
        absorb a cancellation and return ``None`` as for its own timeout; a loop relying on it read on forever)."""

    @property
    def publishing(self) -> bool:
        """``False`` from a failed publish until Redis answers again (publishes skip Redis meanwhile)."""
        return not self._skipping

    async def connect(
        self, listener: Listener, on_gap: GapListener | None = None, *, local_listener: Listener | None = None
    ) -> None:
        self._listener = listener
        self._local_listener = local_listener if local_listener is not None else listener
        self._on_gap = on_gap
        await self.client.ping()
        await self._pubsub.subscribe(GAP_CHANNEL)
        assert self._pubsub.connection is not None
        # Every later connect is a reconnect, after redis-py has re-subscribed: the moment a gap ends.
        self._pubsub.connection.register_connect_callback(self._reconnected)
        self._reader = asyncio.create_task(self._read(), name="redis-broker-reader")
        self._reader.add_done_callback(partial(log_task_failure, logger))
        newest = await self.client.xrevrange(COMMANDS_STREAM, count=1)
        self._last_command = newest[0][0] if newest else "0-0"
        self._commands = asyncio.create_task(self._read_commands(), name="redis-broker-commands")
        self._commands.add_done_callback(partial(log_task_failure, logger))

    async def disconnect(self) -> None:
        self._stopping = True
        tasks = [t for t in (self._reader, self._commands, self._announcer, self._resubscriber) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            _, running = await asyncio.wait(tasks, timeout=STOP_SECONDS)
            if running:
                logger.error("redis broker: %d background tasks did not stop within %.0f s", len(running), STOP_SECONDS)
        if self._gapped or self._kept:
            logger.warning(
                "redis broker: stopping with %d gapped channels and %d kept commands never published",
                len(self._gapped),
                len(self._kept),
            )
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        await self.client.aclose()

    async def subscribe(self, channel: str) -> None:
        if self._down_since is None:
            try:
                await self._pubsub.subscribe(channel)
                return
            except Exception as exc:  # REDIS_DOWN, or redis-py's race on a reconnecting connection (see there)
                logger.warning("redis broker: subscribing failed (%r); deferred", exc)
        # Kept, so the reconnect subscribes it and reports its gap like the others' (a socket joining during an
        # outage waits for no timeout).
        self._pubsub.channels[channel] = None
        self._deferred.add(channel)
        if self._down_since is None:  # no outage seen: the connection may be back already, and no reconnect come
            self._resubscribe_soon()

    async def unsubscribe(self, channel: str) -> None:
        self._deferred.discard(channel)
        if self._down_since is None:
            try:
                await self._pubsub.unsubscribe(channel)
            except REDIS_DOWN:
                pass  # the reconnect subscribes only the channels still kept
            except Exception as exc:  # a frame still arriving on it finds no member: harmless
                logger.warning("redis broker: unsubscribing failed (%r)", exc)
        # redis-py forgets a channel only when Redis confirms the unsubscribe, and a reconnect before that
        # subscribes it again (and would report it as gapped): forget it now.
        self._pubsub.channels.pop(channel, None)

    async def publish(
        self, channel: str, payload: str, *, must_arrive: bool = False, position: Position | None = None
    ) -> None:
        if must_arrive:
            await self._command(channel, payload)
            return
        if self.publishing:
            try:
                await self.client.publish(channel, payload)
            except REDIS_DOWN as exc:
                logger.warning("redis broker: publish failed after %d retries (%r)", PUBLISH_RETRIES, exc)
            else:
                metrics.BROKER_PUBLISHES.labels("redis").inc()
                return
        metrics.BROKER_PUBLISH_FAILURES.labels("redis").inc()
        lost = self._gapped.setdefault(channel, {})
        if position is not None:
            stream, seq = position
            lost[stream] = min(seq, lost.get(stream, seq))
        self._failed(channel, payload)

    async def _command(self, channel: str, payload: str) -> None:
        if not self._kept:  # else it queues behind the kept ones, in order
            try:
                await self._append(channel, payload)
            except REDIS_DOWN as exc:
                logger.warning("redis broker: a command could not be written (%r); kept until Redis answers", exc)
            else:
                metrics.BROKER_PUBLISHES.labels("redis").inc()
                return
        metrics.BROKER_PUBLISH_FAILURES.labels("redis").inc()
        if len(self._kept) >= MAX_KEPT:
            self._kept.popleft()
            logger.error("redis broker: more than %d commands kept through an outage; the oldest dropped", MAX_KEPT)
        self._kept.append((channel, payload))
        self._failed(channel, payload)

    def _failed(self, channel: str, payload: str) -> None:
        """Deliver to this process's own subscribers (they need no Redis); make sure the announcer runs."""
        self._skipping = True
        if self._announcer is None:
            self._announcer = asyncio.create_task(self._announce(), name="redis-broker-gaps")
            self._announcer.add_done_callback(partial(log_task_failure, logger))
        if channel in self._pubsub.channels and self._local_listener is not None:
            self._local_listener(channel, payload)

    async def _append(self, channel: str, payload: str, *, delivered: bool = False) -> None:
        fields = {"channel": channel, "payload": payload}
        if delivered:
            fields["delivered"] = self._id  # this process already acted on it
        await self.client.xadd(COMMANDS_STREAM, fields, maxlen=COMMANDS_MAXLEN, approximate=True)  # type: ignore[arg-type]

    # -- gaps ------------------------------------------------------------------------------------

    def _reconnected(self, _connection: Connection) -> None:
        channels = frozenset(self._pubsub.channels) - {GAP_CHANNEL}
        metrics.BROKER_GAPS.labels("redis").inc()
        loop = asyncio.get_running_loop()
        down = f" after {loop.time() - self._down_since:.1f} s" if self._down_since is not None else ""
        self._down_since = None
        self._resubscribe_soon()
        logger.warning("redis broker: subscription back%s; %d channels told to resync", down, len(channels))
        self._gap(channels, RECONNECTED)

    def _gap(self, channels: frozenset[str], reason: str) -> None:
        if channels and self._on_gap is not None:
            try:
                self._on_gap(Gap(channels, reason))
            except Exception:  # raised into redis-py's connect, it would fail the reconnect itself
                logger.exception("redis broker: the gap listener failed")

    def _resubscribe_soon(self) -> None:
        if self._deferred and self._resubscriber is None and not self._stopping:
            self._resubscriber = asyncio.create_task(self._resubscribe(), name="redis-broker-resubscribe")
            self._resubscriber.add_done_callback(partial(log_task_failure, logger))

    async def _resubscribe(self) -> None:
        """Subscribe the deferred channels until Redis takes them (idempotent for those a reconnect subscribed),
        then report them as gapped: frames published since they were asked for may not have arrived."""
        delay = RECONNECT_MIN
        try:
            while self._deferred and not self._stopping:
                if self._down_since is not None:
                    return  # the reconnect subscribes every kept channel, and starts this again
                channels = frozenset(c for c in self._deferred if c in self._pubsub.channels)
                self._deferred.clear()
                if not channels:
                    continue
                try:
                    await self._pubsub.subscribe(*channels)
                except Exception as exc:
                    self._deferred.update(c for c in channels if c in self._pubsub.channels)
                    logger.warning("redis broker: subscribing %d deferred channels failed (%r)", len(channels), exc)
                    await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                    delay = min(delay * 2, RECONNECT_MAX)
                    continue
                delay = RECONNECT_MIN
                metrics.BROKER_GAPS.labels("redis").inc()
                self._gap(channels & self._pubsub.channels.keys(), RECONNECTED)
        finally:
            self._resubscriber = None

    async def _announce(self) -> None:
        """Once Redis answers, publish the kept payloads, publish normally again, and send a gap notice for the
        channels whose publishes failed."""
        delay = RECONNECT_MIN
        try:
            while (self._gapped or self._kept) and not self._stopping:
                try:
                    await self._flush()
                except REDIS_DOWN:
                    await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                    delay = min(delay * 2, RECONNECT_MAX)
        finally:
            self._announcer = None

    async def _flush(self) -> None:
        await self.client.ping()
        while self._kept:
            channel, payload = self._kept[0]
            await self._append(channel, payload, delivered=True)
            self._kept.popleft()
            metrics.BROKER_PUBLISHES.labels("redis").inc()
        # Redis answers: publish through it again before announcing what failed until now, or every publish made
        # while the notice is on its way would be skipped, gapped and announced again, resync after resync.
        self._skipping = False
        if self._gapped:
            gapped, self._gapped = self._gapped, {}  # publishes failing meanwhile go to the next notice
            notice = GapNotice(
                sender=self._id, channels=sorted(gapped), lost_from={ch: lost for ch, lost in gapped.items() if lost}
            )
            try:
                await self.client.publish(GAP_CHANNEL, msgspec.json.encode(notice).decode())
            except BaseException:
                self._skipping = True
                for channel, lost in gapped.items():
                    merged = self._gapped.setdefault(channel, {})
                    for stream, seq in lost.items():
                        merged[stream] = min(seq, merged.get(stream, seq))
                raise
            logger.warning("redis broker: announced lost publishes on %d channels", len(gapped))

    def _notice(self, payload: str) -> None:
        try:
            notice = self._notices.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            logger.warning("redis broker: ignoring a malformed gap notice")
            return
        if notice.sender == self._id:
            return  # its own sockets got those frames directly
        channels = frozenset(notice.channels) & self._pubsub.channels.keys()
        if channels and self._on_gap is not None:
            metrics.BROKER_GAPS.labels("redis").inc()
            lost_from = {channel: lost for channel, lost in notice.lost_from.items() if channel in channels}
            self._on_gap(Gap(channels, PUBLISH_FAILED, lost_from))

    # -- reading ---------------------------------------------------------------------------------

    async def _read(self) -> None:
        delay = RECONNECT_MIN
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except Exception as exc:
                if not isinstance(exc, REDIS_DOWN):
                    # Whatever broke, the subscription is suspect: a fresh connection re-subscribes every channel
                    # and reports them gapped, where ending this loop would leave every socket waiting unawares.
                    logger.error("redis broker: reading the subscription failed unexpectedly", exc_info=exc)
                    await self._drop_connection()
                if self._down_since is None:
                    self._down_since = loop.time()
                    logger.warning("redis broker: subscription lost (%r); reconnecting", exc)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, RECONNECT_MAX)
                continue
            delay = RECONNECT_MIN
            if message is not None and message["type"] == "message":
                try:
                    self._dispatch(message)
                except Exception:  # one bad delivery must not stop every later one
                    logger.exception("redis broker: delivering a message failed")

    async def _drop_connection(self) -> None:
        connection = self._pubsub.connection
        if connection is not None:
            with contextlib.suppress(Exception):  # closing what is already broken
                await connection.disconnect()

    async def _read_commands(self) -> None:
        delay = RECONNECT_MIN
        while not self._stopping:
            try:
                answer = await self.client.xread({COMMANDS_STREAM: self._last_command}, count=100, block=1000)
                batches = cast(list[tuple[str, list[tuple[str, dict[str, str]]]]], answer)  # RESP2's shape
            except Exception as exc:
                if not isinstance(exc, REDIS_DOWN):  # read on: ending here would drop every later command
                    logger.error("redis broker: reading commands failed unexpectedly", exc_info=exc)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, RECONNECT_MAX)
                continue
            delay = RECONNECT_MIN
            for _stream, entries in batches:
                for entry_id, fields in entries:
                    self._last_command = entry_id
                    channel = fields.get("channel", "")
                    if fields.get("delivered") == self._id or channel not in self._pubsub.channels:
                        continue
                    if self._listener is not None:
                        try:
                            self._listener(channel, fields["payload"])
                        except Exception:
                            logger.exception("redis broker: delivering a command failed")

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel, payload = message["channel"], message["data"]
        if channel == GAP_CHANNEL:
            self._notice(payload)
        elif self._listener is not None:
            self._listener(channel, payload)
