"""Errors of the store, translated from asyncpg at the boundary.

StoreError
├── NotFound        the row does not exist (or belongs to someone else)
├── Conflict        a uniqueness rule was broken (duplicate email, taken slug, ...)
└── InsufficientFunds  a balance would go negative

A database outage is not a store error: :func:`outage` names it as the domain's ``NotReady``.
"""

from __future__ import annotations

import asyncpg

from ..errors import NotReady


class StoreError(Exception):
    """Base of every error raised by ``server.store``."""


class NotFound(StoreError):
    """The row does not exist, or is not visible to the caller."""


class Conflict(StoreError):
    """A uniqueness constraint was violated."""


class InsufficientFunds(StoreError):
    """A ledger operation would make a balance negative."""


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
