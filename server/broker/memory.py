"""The in-process broker: one process, delivery by direct call."""

from __future__ import annotations

from .. import metrics
from .base import Broker, Listener


class MemoryBroker(Broker):
    def __init__(self) -> None:
        self._listener: Listener | None = None
        self._channels: set[str] = set()

    async def connect(self, listener: Listener) -> None:
        self._listener = listener

    async def disconnect(self) -> None:
        self._listener = None
        self._channels.clear()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def publish(self, channel: str, payload: str) -> None:
        metrics.BROKER_PUBLISHES.labels("memory").inc()
        if self._listener is not None and channel in self._channels:
            self._listener(channel, payload)
