"""The in-process broker: one process, delivery by direct call (so it has no gaps)."""

from __future__ import annotations

from .. import metrics
from .base import Broker, GapListener, Listener, Position


class MemoryBroker(Broker):
    def __init__(self) -> None:
        self._listener: Listener | None = None
        self._channels: set[str] = set()

    async def connect(
        self, listener: Listener, on_gap: GapListener | None = None, *, local_listener: Listener | None = None
    ) -> None:
        self._listener = listener  # a direct call cannot lose a frame: no gaps to report

    async def disconnect(self) -> None:
        self._listener = None
        self._channels.clear()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def publish(
        self, channel: str, payload: str, *, must_arrive: bool = False, position: Position | None = None
    ) -> None:
        metrics.BROKER_PUBLISHES.labels("memory").inc()
        if self._listener is not None and channel in self._channels:
            self._listener(channel, payload)
