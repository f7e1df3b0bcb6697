"""The Redis broker: pub/sub between every process and node that shares ``REDIS_URL``."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from .. import metrics
from .base import Broker, Listener

logger = logging.getLogger(__name__)


class RedisBroker(Broker):
    def __init__(self, url: str | None = None, *, client: Redis | None = None) -> None:
        if client is None and url is None:
            raise ValueError("give a Redis URL or a client")
        self._client = client if client is not None else Redis.from_url(url, decode_responses=True)  # type: ignore[arg-type]
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._listener: Listener | None = None
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def connect(self, listener: Listener) -> None:
        self._listener = listener
        await self._client.ping()
        self._reader = asyncio.create_task(self._read(), name="redis-broker-reader")

    async def disconnect(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        await self._client.aclose()

    async def subscribe(self, channel: str) -> None:
        await self._pubsub.subscribe(channel)
        self._subscribed.set()

    async def unsubscribe(self, channel: str) -> None:
        await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, payload: str) -> None:
        await self._client.publish(channel, payload)
        metrics.BROKER_PUBLISHES.labels("redis").inc()

    async def _read(self) -> None:
        await self._subscribed.wait()  # get_message() refuses to run before the first subscription
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except RedisConnectionError:
                # redis-py re-subscribes on reconnect; frames published meanwhile are lost, as pub/sub is.
                logger.warning("redis broker connection lost; reconnecting")
                metrics.BROKER_GAPS.labels("redis").inc()
                await asyncio.sleep(0.5)
                continue
            if message is not None and self._listener is not None and message["type"] == "message":
                self._listener(message["channel"], message["data"])
