"""A test-only fault hook: ``SENSAY_HUB_TEST_FAULT=kill-after-store`` makes the process kill itself (SIGKILL)
right after it stores its first reply and before that reply is published, so the chaos tests can force the
crash a stored-but-unannounced reply comes from; ``kill-after-ack`` right after it acks its first chat or room
message and before that message's reply (or room run) is recorded; ``orphan-job-fails`` makes every attempt to
make the reply job of an orphaned chat message (acked, no reply row) fail. Never set it outside tests; unset, it
does nothing.
"""

from __future__ import annotations

import os
import signal
from typing import Final

VARIABLE: Final = "SENSAY_HUB_TEST_FAULT"
KILL_AFTER_STORE: Final = "kill-after-store"
KILL_AFTER_ACK: Final = "kill-after-ack"
ORPHAN_JOB_FAILS: Final = "orphan-job-fails"


class InjectedFault(Exception):
    """Raised by a test-only fault hook."""


def after_store() -> None:
    """Called between storing a reply and publishing it."""
    if os.environ.get(VARIABLE) == KILL_AFTER_STORE:
        os.kill(os.getpid(), signal.SIGKILL)


def after_ack() -> None:
    """Called between acking a chat or room message and recording its reply (or room run)."""
    if os.environ.get(VARIABLE) == KILL_AFTER_ACK:
        os.kill(os.getpid(), signal.SIGKILL)


def orphan_job() -> None:
    """Called before the reply job of an orphaned chat message is made."""
    if os.environ.get(VARIABLE) == ORPHAN_JOB_FAILS:
        raise InjectedFault("injected by SENSAY_HUB_TEST_FAULT=orphan-job-fails")
