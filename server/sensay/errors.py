"""Errors raised by the Sensay client.

Every failure that crosses the client's boundary is one of these; httpx exceptions are chained as ``__cause__``.

    SensayError                  base: status, request_id, error_code, retryable, retry_after
    ├── SensayUnavailable        connection error, timeout, 5xx (after retries), stream cut short   retryable
    ├── SensayRateLimited        429 (after retries, or a Retry-After beyond the caller's budget)     retryable
    ├── SensayQuotaExceeded      429 with a quota error code (a usage limit is spent): not retried
    ├── SensayRefused            403, or a content-policy error code: Sensay will not answer this
    ├── SensayAuthError          401: wrong organization secret or unknown user
    ├── SensayNotFound           404: unknown replica (or user)
    ├── SensayConflict           409: user id or replica slug already taken
    └── SensayBadRequest         400 / 415 / 422: the request itself is wrong

Other statuses (an error part inside a stream, an unreadable success body) raise the base class.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "SensayAuthError",
    "SensayBadRequest",
    "SensayConflict",
    "SensayError",
    "SensayNotFound",
    "SensayQuotaExceeded",
    "SensayRateLimited",
    "SensayRefused",
    "SensayUnavailable",
    "error_for_status",
]


class SensayError(Exception):
    """Base of every error raised by the Sensay client."""

    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        error_code: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.request_id = request_id
        self.error_code = error_code
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after = retry_after
        """Seconds Sensay asked us to wait (``Retry-After``) when the wait did not fit the caller's budget."""
        self.requested_wait: float | None = None
        """Seconds Sensay's ``Retry-After`` asked for, waited out before a retry when it fits."""

    def __str__(self) -> str:
        details = [f"status={self.status}"] if self.status is not None else []
        if self.error_code:
            details.append(f"error_code={self.error_code}")
        if self.request_id:
            details.append(f"request_id={self.request_id}")
        return f"{self.message} ({', '.join(details)})" if details else self.message


class SensayUnavailable(SensayError):
    """Sensay could not be reached or answered 5xx, or a stream ended before its finish marker."""

    default_retryable = True


class SensayRateLimited(SensayError):
    """Sensay kept answering 429 Too Many Requests."""

    default_retryable = True


class SensayQuotaExceeded(SensayError):
    """429 naming a spent quota (e.g. the monthly conversation quota of ``usageLimits``): waiting will not help."""


class SensayRefused(SensayError):
    """403, or an error code naming a content policy: Sensay refuses to answer this request."""


class SensayAuthError(SensayError):
    """401: the organization secret is wrong or the acting user does not exist."""


class SensayNotFound(SensayError):
    """404: the replica (or user) does not exist or is not visible to the acting user."""


class SensayConflict(SensayError):
    """409: the user id or the replica slug is already taken."""


class SensayBadRequest(SensayError):
    """400, 415 or 422: Sensay rejected the request's shape or values."""


_POLICY_WORDS = ("POLICY", "MODERATION", "CONTENT_FILTER", "SAFETY")

_BY_STATUS: dict[int, type[SensayError]] = {
    400: SensayBadRequest,
    401: SensayAuthError,
    404: SensayNotFound,
    409: SensayConflict,
    415: SensayBadRequest,
    422: SensayBadRequest,
    429: SensayRateLimited,
}


def error_for_status(
    status: int,
    message: str,
    *,
    request_id: str | None = None,
    error_code: str | None = None,
) -> SensayError:
    """Build the typed error for an HTTP error status (not raised: the caller decides)."""
    code = (error_code or "").upper()
    cls: type[SensayError] | None
    if status == 429 and "QUOTA" in code:
        cls = SensayQuotaExceeded
    elif status == 403 or any(word in code for word in _POLICY_WORDS):
        cls = SensayRefused
    else:
        cls = _BY_STATUS.get(status)
    if cls is None:
        cls = SensayUnavailable if status >= 500 else SensayError
    return cls(message, status=status, request_id=request_id, error_code=error_code)
