"""Errors of the store, translated from asyncpg at the boundary.

StoreError
├── NotFound        the row does not exist (or belongs to someone else)
├── Conflict        a uniqueness rule was broken (duplicate email, taken slug, ...)
└── InsufficientFunds  a balance would go negative
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error raised by ``server.store``."""


class NotFound(StoreError):
    """The row does not exist, or is not visible to the caller."""


class Conflict(StoreError):
    """A uniqueness constraint was violated."""


class InsufficientFunds(StoreError):
    """A ledger operation would make a balance negative."""
