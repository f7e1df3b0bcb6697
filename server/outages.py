"""Whether the database can be reached: the one list of what says it cannot, for every layer.

The transports answer an outage with 503 / a retryable error frame instead of 500, the reply pipeline and the
services wait it out; none of them catches asyncpg's connection errors itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeAlias, TypeVar

import asyncpg

from .errors import NotReady

OUTAGE_RETRY_AFTER = 5
"""Seconds a client is told to wait (``Retry-After``) while the database does not answer."""

_OUTAGES: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable: the server or the network is down
    asyncpg.PostgresConnectionError,  # the connection broke (ConnectionDoesNotExistError, ...)
    asyncpg.InterfaceError,  # "connection is closed", "pool is closing"
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    # "cannot switch to state …; another operation is in progress": a pooled connection the server dropped
    # mid-operation, reused before the pool noticed.
    asyncpg.InternalClientError,
)


def unreachable(exc: BaseException | None) -> bool:
    """Whether ``exc``, raised by a database call, says the database cannot be reached: the one test of that, for
    the transports and the reply pipeline alike (``TimeoutError``, an ``OSError``, included: a connection that could
    not be made in time)."""
    return isinstance(exc, _OUTAGES)


def outage(exc: BaseException) -> NotReady | None:
    """The domain error of a database outage (asyncpg's error, or the socket's under it), else ``None``.

    The transports ask this of an unexpected error, so an outage answers 503 / a retryable error frame
    instead of 500; services never need to catch asyncpg's connection errors themselves.
    """
    if unreachable(exc):
        return NotReady("the database is not answering; try again shortly")
    return None


T = TypeVar("T")
Waiting: TypeAlias = Callable[[BaseException], Awaitable[None]]
"""Called with the error after each attempt that failed for want of the database."""


async def while_unreachable(call: Callable[[], Awaitable[T]], *, patience: float, every: float, waiting: Waiting) -> T:
    """``call()``, again every ``every`` seconds while it fails because the database cannot be reached
    (``waiting(error)`` after each such failure), for up to ``patience`` seconds in all (then ``TimeoutError``); any
    other failure is raised at once."""
    async with asyncio.timeout(patience):
        while True:
            try:
                return await call()
            except Exception as exc:
                if not unreachable(exc):
                    raise
                await waiting(exc)
            await asyncio.sleep(every)
