"""The change-feed interface: row changes of ``tasks`` and ``prototype_interactions``, routed by owner.

A backend calls ``on_change`` for every change it sees, and ``on_gap`` whenever it may have missed
changes (a dropped connection, a rejoined channel), so the hub can tell clients to re-fetch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from .. import metrics

Table = Literal["tasks", "prototype_interactions"]
Operation = Literal["INSERT", "UPDATE", "DELETE"]
TABLES: tuple[Table, ...] = ("tasks", "prototype_interactions")


@dataclass(frozen=True, slots=True)
class Change:
    """One row change, with the row's owner."""

    table: Table
    op: Operation
    user_id: UUID
    record: dict[str, Any] | None
    old_record: dict[str, Any] | None
    commit_timestamp: str | None = None


OnChange = Callable[[Change], Awaitable[None]]
OnGap = Callable[[str], Awaitable[None]]
"""Called with a human-readable reason; every user's sockets should re-fetch the tables."""


class ChangeFeed(ABC):
    @abstractmethod
    async def start(self, on_change: OnChange, on_gap: OnGap) -> None:
        """Begin delivering changes; returns once the feed is listening."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop delivering; idempotent."""


def count_change(change: Change, backend: str) -> None:
    """Count a change about to be delivered, and its lag since the commit when the backend knows that time."""
    metrics.FEED_CHANGES.labels(change.table, change.op).inc()
    if change.commit_timestamp is None:
        return
    try:
        committed = datetime.fromisoformat(change.commit_timestamp)
    except ValueError:
        return
    if committed.tzinfo is None:
        committed = committed.replace(tzinfo=UTC)
    lag = (datetime.now(UTC) - committed).total_seconds()
    metrics.FEED_LAG.labels(backend).observe(max(0.0, lag))  # the database's clock may run a little ahead


def count_gap(backend: str) -> None:
    metrics.FEED_GAPS.labels(backend).inc()
