"""Storing a claimed reply through a database outage: its process holds the finished reply and tries again until the
database answers, renewing the lease meanwhile. Left to its lease instead, the reply would be taken up by another
process once the database is back, and its users would see it restart."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final, TypeAlias, TypeVar

from ..store.errors import unreachable

RETRY_SECONDS: Final = 0.5
"""Seconds between attempts while the database is away."""

T = TypeVar("T")
Waiting: TypeAlias = Callable[[BaseException], Awaitable[None]]
"""Called with the error after each attempt that failed for want of the database."""


async def store_through_outage(store: Callable[[], Awaitable[T]], *, patience: float, waiting: Waiting) -> T:
    """``store()`` until it does not fail for want of the database (``waiting(error)`` after each such failure), for
    up to ``patience`` seconds; then, or on any other failure, its error is raised."""
    deadline = asyncio.get_running_loop().time() + patience
    while True:
        try:
            return await store()
        except Exception as exc:
            if not unreachable(exc) or asyncio.get_running_loop().time() >= deadline:
                raise
            await waiting(exc)
        await asyncio.sleep(RETRY_SECONDS)
