"""Any failure of a reply (Sensay's, a timeout, the database's, a bug) as a domain error with a code."""

from __future__ import annotations

from ..errors import DomainError, ReplicaNotFound, ReplicaRejected, ReplicaUnavailable
from ..sensay.errors import SensayBadRequest, SensayError, SensayNotFound


def replica_failure(exc: BaseException) -> DomainError:
    """The domain error that reports ``exc`` to clients; anything unexpected becomes ``internal_error``."""
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, TimeoutError) or (isinstance(exc, SensayError) and exc.retryable):
        return ReplicaUnavailable("the replica could not answer; send the same id again to retry")
    if isinstance(exc, SensayError):
        return ReplicaRejected("the replica refused to answer this message")
    return DomainError("the server failed while producing the reply")


def lookup_failure(exc: SensayError, replica_id: str | None = None) -> DomainError:
    """A failed replica lookup: unknown (Sensay answers 400 to an id that is not a UUID), unavailable or refused."""
    if replica_id is not None and isinstance(exc, (SensayNotFound, SensayBadRequest)):
        return ReplicaNotFound(f"no replica {replica_id!r}")
    if exc.retryable:
        return ReplicaUnavailable("the replica service could not be reached; nothing was stored")
    return ReplicaRejected("the replica service refused the request")
