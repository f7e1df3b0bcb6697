"""The broker interface: fan-out of already-encoded frames between processes.

The hub subscribes to a channel per user (and per room) while it has a socket there, publishes
encoded frames to channels, and delivers what arrives to its local sockets. A broker that may lose frames
(Redis pub/sub has no delivery guarantee) reports every channel that may have lost some to its gap listener,
so that the sockets on it can be told to resume.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

Listener = Callable[[str, str], None]
"""Called with ``(channel, payload)`` for every message on a subscribed channel."""

GapListener = Callable[[frozenset[str], str], None]
"""Called with ``(channels, reason)`` when frames on those subscribed channels may have been lost."""


class Broker(ABC):
    @abstractmethod
    async def connect(self, listener: Listener, on_gap: GapListener | None = None) -> None:
        """Start delivering messages of subscribed channels to ``listener``, and gaps to ``on_gap``."""

    @abstractmethod
    async def disconnect(self) -> None: ...

    @abstractmethod
    async def subscribe(self, channel: str) -> None: ...

    @abstractmethod
    async def unsubscribe(self, channel: str) -> None: ...

    @abstractmethod
    async def publish(self, channel: str, payload: str, *, must_arrive: bool = False) -> None:
        """Send ``payload`` to every subscriber of ``channel``; never lost without a gap being reported.

        ``must_arrive`` payloads (commands such as closing a logged-out session's sockets, which no resync can
        stand for) are kept through an outage and published once the broker answers again.
        """
