"""The broker interface: fan-out of already-encoded frames between processes.

The hub subscribes to a channel per user (and per room) while it has a socket there, publishes
encoded frames to channels, and delivers what arrives to its local sockets. A broker that may lose frames
(Redis pub/sub has no delivery guarantee) reports every channel that may have lost some to its gap listener,
so that the sockets on it can be told to resume, and says which deliveries reached this process only (a publish
that failed), so that the hub does not count them as delivered in order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

Listener = Callable[[str, str], None]
"""Called with ``(channel, payload)`` for every message on a subscribed channel."""

Position = tuple[str, int]
"""Where a published payload sits: its stream and seq (for stored messages)."""


@dataclass(frozen=True)
class Gap:
    """Frames on ``channels`` (subscribed here) may have been lost.

    ``lost_from`` names, per channel and stream, the lowest seq known to be lost (a publish of another process
    that failed); a stream it does not name lost what was published while this process's subscription was down.
    """

    channels: frozenset[str]
    reason: str
    lost_from: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


GapListener = Callable[[Gap], None]
"""Called when frames on subscribed channels may have been lost."""


class Broker(ABC):
    @abstractmethod
    async def connect(
        self, listener: Listener, on_gap: GapListener | None = None, *, local_listener: Listener | None = None
    ) -> None:
        """Start delivering messages of subscribed channels to ``listener``, and gaps to ``on_gap``.

        Payloads whose publish failed reach this process's own subscribers through ``local_listener`` (default:
        ``listener``): the other processes did not get them, and a gap stands for them there.
        """

    @abstractmethod
    async def disconnect(self) -> None: ...

    @abstractmethod
    async def subscribe(self, channel: str) -> None: ...

    @abstractmethod
    async def unsubscribe(self, channel: str) -> None: ...

    @abstractmethod
    async def publish(
        self, channel: str, payload: str, *, must_arrive: bool = False, position: Position | None = None
    ) -> None:
        """Send ``payload`` to every subscriber of ``channel``; never lost without a gap being reported.

        ``must_arrive`` payloads (commands such as closing a logged-out session's sockets, which no resync can
        stand for) are kept through an outage and published once the broker answers again. ``position`` (a stored
        message's stream and seq) is named in the gap report should the publish fail.
        """
