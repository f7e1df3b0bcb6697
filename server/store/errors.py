"""Errors of the store, translated from asyncpg at the boundary.

StoreError
├── NotFound        the row does not exist (or belongs to someone else)
├── Conflict        a uniqueness rule was broken (duplicate email, taken slug, ...)
└── InsufficientFunds  a balance would go negative

A database outage is not a store error: :func:`server.outages.outage` names it as the domain's ``NotReady``
(re-exported here for the store's users).
"""

from __future__ import annotations

from ..outages import OUTAGE_RETRY_AFTER, outage, unreachable

__all__ = ["OUTAGE_RETRY_AFTER", "Conflict", "InsufficientFunds", "NotFound", "StoreError", "outage", "unreachable"]


class StoreError(Exception):
    """Base of every error raised by ``server.store``."""


class NotFound(StoreError):
    """The row does not exist, or is not visible to the caller."""


class Conflict(StoreError):
    """A uniqueness constraint was violated."""


class InsufficientFunds(StoreError):
    """A ledger operation would make a balance negative."""
