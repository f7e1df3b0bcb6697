"""In-memory, per-user state of the simulated outside services, bounded so it cannot grow without limit."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar
from uuid import UUID

T = TypeVar("T")
MAX_USERS = 10_000
MAX_ITEMS_PER_USER = 1_000


class PerUserStore(Generic[T]):
    """Items by key, per user; the least recently used user, and a user's oldest item, are forgotten first."""

    def __init__(self, max_users: int = MAX_USERS, max_items: int = MAX_ITEMS_PER_USER) -> None:
        self.max_users = max_users
        self.max_items = max_items
        self._users: OrderedDict[UUID, OrderedDict[str, T]] = OrderedDict()

    def get(self, user_id: UUID, key: str) -> T | None:
        items = self._users.get(user_id)
        return None if items is None else items.get(key)

    def put(self, user_id: UUID, key: str, item: T) -> None:
        items = self._users.get(user_id)
        if items is None:
            items = self._users[user_id] = OrderedDict()
            if len(self._users) > self.max_users:
                self._users.popitem(last=False)
        self._users.move_to_end(user_id)
        items[key] = item
        if len(items) > self.max_items:
            items.popitem(last=False)

    def items(self, user_id: UUID) -> list[T]:
        """The user's items, oldest first."""
        return list(self._users.get(user_id, {}).values())

    def count(self, user_id: UUID) -> int:
        return len(self._users.get(user_id, ()))
