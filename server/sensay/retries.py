"""When a failed Sensay request is tried again, and how long to wait first (with tenacity).

Retries (full-jitter exponential backoff, or ``Retry-After`` when the server sends one) cover 429, 5xx,
connection errors and timeouts only. A ``Retry-After`` that does not fit the caller's ``deadline`` (or exceeds a
minute) is not waited out: the error is raised at once with ``retry_after`` set. A caller's ``before_retry``
(the client's history check) is awaited before each wait and may raise instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Final, TypeVar

import httpx
import msgspec
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential

from .errors import SensayError, SensayUnavailable, error_for_status
from .models import ErrorBody, request_id_header

logger = logging.getLogger("server.sensay.client")

MAX_RETRY_AFTER: Final = 60.0
_NOT_RETRYABLE_TRANSPORT = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)
# Failures after which the request was certainly not taken in by Sensay.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_NOT_PROCESSED_STATUSES: Final = frozenset({429, 502, 503, 504})


_T = TypeVar("_T")
BeforeRetry = Callable[[SensayError], Awaitable[None]]


@dataclass(frozen=True)
class Backoff:
    """How often and after what pause a retryable failure is tried again."""

    max_retries: int = 3
    base: float = 0.2
    cap: float = 5.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.base < 0 or self.cap < 0:
            raise ValueError("max_retries and backoff must be >= 0")

    async def run(
        self,
        call: Callable[[], Awaitable[_T]],
        *,
        deadline: float | None = None,
        before_retry: BeforeRetry | None = None,
    ) -> _T:
        """``call()``'s result, calling it again after each retryable :class:`SensayError` until retries run out.

        ``deadline`` (event-loop time) bounds a server's ``Retry-After``; ``before_retry`` may raise to stop.
        """
        jitter = wait_random_exponential(multiplier=self.base, max=self.cap)

        def wait(state: RetryCallState) -> float:
            asked = _error(state).requested_wait
            return asked if asked is not None else jitter(state)

        async def before_sleep(state: RetryCallState) -> None:
            error = _error(state)
            if before_retry is not None:
                await before_retry(error)
            _check_requested_wait(error, deadline)
            delay = state.next_action.sleep if state.next_action is not None else 0.0
            logger.warning("%s; retry %d/%d in %.2fs", error, state.attempt_number, self.max_retries, delay)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            retry=retry_if_exception(lambda exc: isinstance(exc, SensayError) and exc.retryable),
            wait=wait,
            before_sleep=before_sleep,
            reraise=True,
        )
        return await retrying(call)


def _error(state: RetryCallState) -> SensayError:
    assert state.outcome is not None
    error = state.outcome.exception()
    assert isinstance(error, SensayError)
    return error


def _check_requested_wait(error: SensayError, deadline: float | None) -> None:
    """Raise ``error`` (with ``retry_after``) when the server's ``Retry-After`` is beyond ``deadline`` or a minute."""
    asked = error.requested_wait
    if asked is None:
        return
    now = asyncio.get_running_loop().time()
    if asked > MAX_RETRY_AFTER or (deadline is not None and now + asked > deadline):
        error.retry_after = asked
        error.message += f"; Sensay asks to wait {asked:g} s, more than the time left"
        raise error from error.__cause__


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
    error = error_for_status(
        response.status_code,
        f"Sensay {method} {path} failed: {detail}",
        request_id=body.request_id or request_id_header(response),
        error_code=body.error_code,
    )
    error.requested_wait = parse_retry_after(response.headers.get("Retry-After"))
    return error


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
