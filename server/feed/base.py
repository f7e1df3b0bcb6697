"""The change-feed interface: row changes of ``tasks`` and ``prototype_interactions``, routed by owner.

A backend calls ``on_change`` for every change it sees, and ``on_gap`` whenever it may have missed
changes (a dropped connection, a rejoined channel), so the hub can tell clients to re-fetch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

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
