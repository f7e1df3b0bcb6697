"""Fan-out between processes: ``memory`` (one process) or ``redis`` (pub/sub), chosen by URL."""

from __future__ import annotations

from .base import Broker, Gap, GapListener, Listener, Position


def create_broker(url: str | None) -> Broker:
    """``None`` or ``memory://`` gives the in-process broker; ``redis://`` the Redis one (imported lazily)."""
    if url is None or url.startswith("memory://"):
        from .memory import MemoryBroker

        return MemoryBroker()
    if url.startswith(("redis://", "rediss://")):
        from .redis import RedisBroker

        return RedisBroker(url)
    raise ValueError(f"Unsupported broker URL scheme: {url.split('://')[0]!r}")


__all__ = ["Broker", "Gap", "GapListener", "Listener", "Position", "create_broker"]
