"""The one replica directory: which replicas exist for whom (cached), their names, and the default replica."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from cachetools import TTLCache

from ..sensay.client import Replica, SensayClient
from ..sensay.errors import SensayError
from .failures import lookup_failure

CACHE_SECONDS: Final = 300.0
CACHE_ENTRIES: Final = 100_000


class ReplicaDirectory:
    """Replica lookups for chat, rooms, prototypes and REST, with one error mapping.

    A replica found for an asker is remembered for ``ttl`` seconds (at most :data:`CACHE_ENTRIES`, least recently
    used first out), so a busy chat does not ask Sensay before every message. Failures are never cached.
    """

    def __init__(
        self,
        sensay: SensayClient,
        *,
        default_replica_id: str | None = None,
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sensay = sensay
        self.configured_default = default_replica_id
        self._found: TTLCache[tuple[str, str], Replica] = TTLCache(CACHE_ENTRIES, ttl, timer=clock)

    async def require(self, asker: str, replica_id: str) -> Replica:
        """The replica as ``asker`` sees it; :class:`~server.errors.ReplicaNotFound` (or unavailable/rejected)."""
        key = (asker, replica_id)
        cached = self._found.get(key)
        if cached is not None:
            return cached
        try:
            replica = await self.sensay.get_replica(asker, replica_id)
        except SensayError as exc:
            raise lookup_failure(exc, replica_id) from exc
        self._found[key] = replica
        return replica

    async def name(self, asker: str, replica_id: str) -> str:
        """The replica's display name."""
        return (await self.require(asker, replica_id)).name

    async def available(self, asker: str) -> list[Replica]:
        """The replicas ``asker`` can chat with (one page, as Sensay lists them)."""
        try:
            return await self.sensay.list_replicas(asker)
        except SensayError as exc:
            raise lookup_failure(exc) from exc

    async def default_replica_id(self, asker: str, listed: list[Replica] | None = None) -> str | None:
        """``SENSAY_REPLICA_ID`` when set, else the first replica ``asker`` can chat with (``None`` if none)."""
        if self.configured_default is not None:
            return self.configured_default
        replicas = listed if listed is not None else await self.available(asker)
        return replicas[0].uuid if replicas else None
