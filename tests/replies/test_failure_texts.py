"""Every reply failure's text agrees with its code's ``retryable``: only a retryable failure invites a resend."""

from __future__ import annotations

import pytest

from server.errors import error_code
from server.replies.failures import replica_failure
from server.sensay.errors import (
    SensayError,
    SensayQuotaExceeded,
    SensayRateLimited,
    SensayRefused,
    SensayUnavailable,
)


@pytest.mark.parametrize(
    ("cause", "code"),
    [
        (SensayUnavailable("down", status=503), "replica_unavailable"),
        (SensayRateLimited("busy", status=429, retry_after=90), "replica_unavailable"),
        (TimeoutError(), "replica_unavailable"),
        (SensayQuotaExceeded("spent", status=429), "replica_quota_exceeded"),
        (SensayRefused("no", status=403), "replica_policy_refused"),
        (SensayError("Sensay stream sent malformed event data", status=200), "replica_rejected"),
        (RuntimeError("a bug"), "internal_error"),
    ],
)
def test_the_text_says_what_retryable_says(cause: BaseException, code: str) -> None:
    error = replica_failure(cause)
    assert error_code(error).value == code
    invites = "again to retry" in error.detail or "again then" in error.detail
    assert invites == error_code(error).retryable
    assert ("will not help" in error.detail) == (not error_code(error).retryable)


def test_a_wait_beyond_the_budget_is_carried() -> None:
    error = replica_failure(SensayRateLimited("busy", status=429, retry_after=90))
    assert error.retry_after == 90 and "90 s" in error.detail
