"""A reply's request to Sensay while it runs: whether it is in doubt, how long it took, and stopping it.

A stopping process hands a reply over only once its request is not in doubt (:func:`stop`); the timings feed the
reply metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Final

import msgspec

from protocol import ErrorFrame, ServerFrame

from .. import metrics
from ..errors import DomainError
from .jobs import Reply

POLL_SECONDS: Final = 0.25
HANDOVER_SECONDS: Final = 2.0
"""How long a reply stopped at shutdown may wait for Sensay to answer a request already sent (so whether Sensay
took the message in is known), and then take to close its Sensay stream, before it is handed over."""
HANDED_OVER: Final = "the server is stopping: another process carries on"


class LeftToLease(asyncio.CancelledError):
    """:meth:`~server.replies.pipeline.Replies.run` was cancelled while its request to Sensay was in doubt (or the
    reply would not stop): the caller must not hand its work over at once but leave it to its lease, so that whoever
    carries on later finds the message in Sensay's history instead of asking again."""


class Asking:
    """Whether a reply's request to Sensay is in doubt: sent, and not answered yet (Sensay may or may not have taken
    the message in). A stopping process hands a reply over only once it is not: a successor asks again only when
    Sensay's history has no trace of the message, so a request still on its way there would be asked twice."""

    __slots__ = ("settled", "stopping")

    def __init__(self) -> None:
        self.settled = asyncio.Event()
        self.settled.set()
        self.stopping = False
        """The reply is being stopped (handed over): a failure from now on is the stop's, not the reply's."""

    def in_doubt(self, doubt: bool) -> None:
        if doubt:
            self.settled.clear()
        else:
            self.settled.set()

    async def known(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until no request is in doubt; ``False`` if one still is."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.settled.wait()
        return self.settled.is_set()


class Timing:
    """Reply latency for the metrics: to the first delta and to the end, observed with the outcome."""

    __slots__ = ("kind", "start", "first")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.start = time.perf_counter()
        self.first: float | None = None

    def first_delta(self) -> None:
        self.first = time.perf_counter() - self.start

    def done(self, outcome: str) -> None:
        """``outcome``: ``stored``, ``cancelled`` or the failure's error code (a small fixed set)."""
        metrics.REPLY_SECONDS.labels(self.kind, outcome).observe(time.perf_counter() - self.start)
        if self.first is not None:
            metrics.REPLY_FIRST_DELTA.labels(self.kind, outcome).observe(self.first)


async def stop(work: asyncio.Task[Reply], request: Asking) -> bool:
    """Cancel ``work`` once Sensay answered any request it sent (waiting at most :data:`HANDOVER_SECONDS`), and give
    it as long again to close its stream; ``False`` when a request was still in doubt (unanswered) at the cancel."""
    known = await request.known(HANDOVER_SECONDS)
    request.stopping = True
    # Its failure, if it ends with one now, was reported where it happened: retrieved here, not reported again.
    work.add_done_callback(lambda done: done.cancelled() or done.exception())
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(HANDOVER_SECONDS):
            while not work.done():
                # Again until it ends: a library's shielded clean-up (closing a connection) may absorb a cancel.
                work.cancel(HANDED_OVER)
                await asyncio.wait([work], timeout=POLL_SECONDS)
    return known


def with_wait(frame: ServerFrame | None, error: DomainError) -> ServerFrame | None:
    """An error frame carries the wait the cause asked for (Sensay's ``Retry-After``)."""
    if isinstance(frame, ErrorFrame) and error.retry_after is not None:
        return msgspec.structs.replace(frame, retry_after=error.retry_after)
    return frame
