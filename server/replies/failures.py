"""Any failure of a reply (Sensay's, a timeout, the database's, a bug) as a domain error with a code."""

from __future__ import annotations

from protocol import ErrorCode

from ..errors import (
    ERROR_TABLE,
    DomainError,
    NotReady,
    ReplicaNotFound,
    ReplicaPolicyRefused,
    ReplicaQuotaExceeded,
    ReplicaRejected,
    ReplicaUnavailable,
)
from ..sensay.errors import SensayBadRequest, SensayError, SensayNotFound, SensayQuotaExceeded, SensayRefused
from ..store.errors import unreachable


def replica_failure(exc: BaseException) -> DomainError:
    """The domain error that reports ``exc`` to clients; anything unexpected becomes ``internal_error``.

    Each detail agrees with the code's ``retryable``: only a retryable failure invites sending the same id again.
    """
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, SensayError) and exc.retryable and exc.retry_after is not None:
        return ReplicaUnavailable(
            f"Sensay asks to wait {exc.retry_after:g} s, longer than a reply may take; send the same id again then",
            retry_after=exc.retry_after,
        )
    if isinstance(exc, TimeoutError) or (isinstance(exc, SensayError) and exc.retryable):
        return ReplicaUnavailable("the replica could not answer; send the same id again to retry")
    if isinstance(exc, SensayQuotaExceeded):
        return ReplicaQuotaExceeded("Sensay's usage quota for this conversation is spent; sending again will not help")
    if isinstance(exc, SensayRefused):
        return ReplicaPolicyRefused("Sensay refused this message under its content policy; sending again will not help")
    if isinstance(exc, SensayError):
        return ReplicaRejected("the replica refused this message or answered unreadably; sending again will not help")
    if unreachable(exc):
        return NotReady("the database is not answering; send the same id again shortly")
    return DomainError("the server failed while producing the reply; send the same id again to retry")


def lookup_failure(exc: SensayError, replica_id: str | None = None) -> DomainError:
    """A failed replica lookup: unknown (Sensay answers 400 to an id that is not a UUID), unavailable or refused."""
    if replica_id is not None and isinstance(exc, (SensayNotFound, SensayBadRequest)):
        return ReplicaNotFound(f"no replica {replica_id!r}")
    if exc.retryable:
        return ReplicaUnavailable("the replica service could not be reached; nothing was stored")
    return ReplicaRejected("the replica service refused the request")


_BY_CODE: dict[str, type[DomainError]] = {}
for _cls, _code in ERROR_TABLE.items():
    _BY_CODE.setdefault(_code.value, _cls)


def stored_failure(code: str | None, detail: str | None, retry_after: float | None) -> DomainError:
    """The domain error of a reply that failed in some process, as its row keeps it."""
    cls = _BY_CODE.get(code or ErrorCode.INTERNAL_ERROR.value, DomainError)
    try:
        return cls(detail or "the reply failed", retry_after=retry_after)
    except TypeError:  # a class with a constructor of its own; replies never fail with those
        return DomainError(detail or "the reply failed", retry_after=retry_after)
