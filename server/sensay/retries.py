"""When a failed Sensay request is tried again, and how long to wait first.

Retries (full-jitter exponential backoff, or ``Retry-After`` when the server sends one) cover 429, 5xx,
connection errors and timeouts only. A ``Retry-After`` that does not fit the caller's ``deadline`` (or exceeds a
minute) is not waited out: the error is raised at once with ``retry_after`` set.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Final

import httpx
import msgspec

from .errors import SensayError, SensayUnavailable, error_for_status
from .models import ErrorBody, request_id_header

logger = logging.getLogger("server.sensay.client")

MAX_RETRY_AFTER: Final = 60.0
_NOT_RETRYABLE_TRANSPORT = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)
# Failures after which the request was certainly not taken in by Sensay.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_NOT_PROCESSED_STATUSES: Final = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class Backoff:
    """How often and after what pause a retryable failure is tried again."""

    max_retries: int = 3
    base: float = 0.2
    cap: float = 5.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.base < 0 or self.cap < 0:
            raise ValueError("max_retries and backoff must be >= 0")

    def gives_up(self, error: SensayError, attempt: int) -> bool:
        """Whether ``error`` on attempt ``attempt`` (from 0) ends the call."""
        return not error.retryable or attempt >= self.max_retries

    async def pause(
        self, attempt: int, error: SensayError, response: httpx.Response | None, deadline: float | None = None
    ) -> None:
        """Sleep for the server's Retry-After if given, else a full-jitter exponential backoff.

        A Retry-After beyond ``deadline`` (or beyond a minute) is not waited out: ``error`` is raised at once,
        carrying the wait in ``retry_after``.
        """
        retry_after = parse_retry_after(response.headers.get("Retry-After")) if response is not None else None
        if retry_after is not None:
            now = asyncio.get_running_loop().time()
            if retry_after > MAX_RETRY_AFTER or (deadline is not None and now + retry_after > deadline):
                error.retry_after = retry_after
                error.message += f"; Sensay asks to wait {retry_after:g} s, more than the time left"
                raise error from error.__cause__
            delay = retry_after
        else:
            delay = random.uniform(0.0, min(self.cap, self.base * 2**attempt))
        logger.warning("%s; retry %d/%d in %.2fs", error, attempt + 1, self.max_retries, delay)
        await asyncio.sleep(delay)


def transport_error(method: str, path: str, exc: httpx.HTTPError) -> SensayError:
    """Our error for an httpx failure (chained as ``__cause__``); transport failures are retryable."""
    retryable = isinstance(exc, httpx.TransportError) and not isinstance(exc, _NOT_RETRYABLE_TRANSPORT)
    cls = SensayUnavailable if isinstance(exc, httpx.TransportError) else SensayError
    error = cls(f"Sensay {method} {path} failed: {exc!r}", retryable=retryable)
    error.__cause__ = exc
    return error


def response_error(method: str, path: str, response: httpx.Response) -> SensayError:
    """Our error for a response that is not a success, from its status and Sensay's error body."""
    try:
        body = msgspec.json.decode(response.content, type=ErrorBody)
    except (msgspec.DecodeError, msgspec.ValidationError):
        body = ErrorBody()
    detail = body.error or response.reason_phrase or "error"
    return error_for_status(
        response.status_code,
        f"Sensay {method} {path} failed: {detail}",
        request_id=body.request_id or request_id_header(response),
        error_code=body.error_code,
    )


def may_have_reached(error: SensayError) -> bool:
    """Whether a failed request may have been taken in by Sensay (so sending it again could repeat it)."""
    cause = error.__cause__
    if isinstance(cause, httpx.HTTPError):
        return not isinstance(cause, _NEVER_SENT)
    if error.status is not None and error.status != 200:
        return error.status not in _NOT_PROCESSED_STATUSES
    return True  # a body or stream that ended before it was whole


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date); ``None`` when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(when.tzinfo)).total_seconds())
