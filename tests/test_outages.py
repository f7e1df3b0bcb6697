"""One test of "the database cannot be reached" for every layer (``server/outages.py``)."""

from __future__ import annotations

import asyncpg

from server.errors import NotReady, retry_after_header
from server.outages import outage, unreachable


def test_connection_failures_are_outages_and_query_errors_are_not() -> None:
    """A refused socket, a broken or closed connection, a server starting up or full: the database is down; a bad
    query or a broken rule is the caller's error, not an outage."""
    down = [
        ConnectionRefusedError(),
        TimeoutError(),
        asyncpg.ConnectionDoesNotExistError(),
        asyncpg.InterfaceError("connection is closed"),
        asyncpg.CannotConnectNowError(),
        asyncpg.TooManyConnectionsError(),
    ]
    assert all(unreachable(exc) for exc in down)
    assert all(isinstance(outage(exc), NotReady) for exc in down)
    up = [asyncpg.UniqueViolationError(), asyncpg.UndefinedTableError(), ValueError("bad"), None]
    assert not any(unreachable(exc) for exc in up)
    assert outage(ValueError("bad")) is None


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    """A client that waits as told is not turned away again: 0.2 s -> 1, 2.1 s -> 3, unknown -> 1."""
    assert [retry_after_header(s) for s in (0.2, 2.0, 2.1, None, 0)] == ["1", "2", "3", "1", "1"]
