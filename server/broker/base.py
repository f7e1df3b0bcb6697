"""The broker interface: fan-out of already-encoded frames between processes.

The hub subscribes to a channel per user (and per room) while it has a socket there, publishes
encoded frames to channels, and delivers what arrives to its local sockets.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

Listener = Callable[[str, str], None]
"""Called with ``(channel, payload)`` for every message on a subscribed channel."""


class Broker(ABC):
    @abstractmethod
    async def connect(self, listener: Listener) -> None:
        """Start delivering messages of subscribed channels to ``listener``."""

    @abstractmethod
    async def disconnect(self) -> None: ...

    @abstractmethod
    async def subscribe(self, channel: str) -> None: ...

    @abstractmethod
    async def unsubscribe(self, channel: str) -> None: ...

    @abstractmethod
    async def publish(self, channel: str, payload: str) -> None: ...
