"""The retry policy without sockets: what is tried again, how often, and what stops it early."""

from __future__ import annotations

import asyncio

import pytest

from server.sensay.errors import SensayBadRequest, SensayError, SensayRateLimited, SensayUnavailable
from server.sensay.retries import Backoff


class Flaky:
    """A call failing with ``errors`` in turn, then answering ``"ok"``; counts its calls."""

    def __init__(self, *errors: SensayError) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_a_retryable_failure_is_tried_again_after_the_history_check() -> None:
    """Each retry is preceded by ``before_retry`` with the error; success ends it."""
    call, checked = Flaky(SensayUnavailable("down"), SensayUnavailable("down")), []

    async def before_retry(error: SensayError) -> None:
        checked.append(error.message)

    assert await Backoff(max_retries=3, base=0, cap=0).run(call, before_retry=before_retry) == "ok"
    assert (call.calls, checked) == (3, ["down", "down"])


async def test_retries_run_out_with_the_last_error() -> None:
    call = Flaky(*(SensayUnavailable(f"down {n}") for n in range(5)))
    with pytest.raises(SensayUnavailable, match="down 2"):
        await Backoff(max_retries=2, base=0, cap=0).run(call)
    assert call.calls == 3


async def test_a_failure_that_is_not_retryable_is_raised_at_once() -> None:
    call, checked = Flaky(SensayBadRequest("bad")), []

    async def before_retry(error: SensayError) -> None:
        checked.append(error)

    with pytest.raises(SensayBadRequest):
        await Backoff(base=0, cap=0).run(call, before_retry=before_retry)
    assert (call.calls, checked) == (1, [])


async def test_the_history_check_can_stop_a_retry() -> None:
    """``before_retry`` raising (Sensay may have the message) ends the call with that error."""
    call = Flaky(SensayUnavailable("cut"))

    async def before_retry(error: SensayError) -> None:
        raise error

    with pytest.raises(SensayUnavailable, match="cut"):
        await Backoff(base=0, cap=0).run(call, before_retry=before_retry)
    assert call.calls == 1


async def test_a_retry_after_beyond_the_deadline_is_not_waited_out() -> None:
    """The error is raised at once, carrying the wait Sensay asked for."""
    limited = SensayRateLimited("slow down", status=429)
    limited.requested_wait = 30.0
    call = Flaky(limited)
    deadline = asyncio.get_running_loop().time() + 5
    with pytest.raises(SensayRateLimited) as raised:
        await Backoff().run(call, deadline=deadline)
    assert raised.value.retry_after == 30.0 and "asks to wait 30 s" in str(raised.value)
    assert call.calls == 1


async def test_a_retry_after_that_fits_is_waited_instead_of_the_backoff() -> None:
    """A zero Retry-After wins over a (here huge) backoff."""
    limited = SensayRateLimited("slow down", status=429)
    limited.requested_wait = 0.0
    call = Flaky(limited)
    assert await asyncio.wait_for(Backoff(base=600, cap=600).run(call), timeout=60) == "ok"
