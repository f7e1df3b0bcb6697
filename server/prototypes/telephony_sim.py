"""A simulated telephony provider: calls move queued → ringing → answered → completed (or fail on the way);
text messages (verification codes) are delivered at once and shown by ``/api/mock/telephony/messages``.

Deterministic: a call's sid comes from the user, the call's number in the user's sequence and its parties, and
its clock is simulated (each status lands a fixed number of seconds after the previous one).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID, uuid4

import msgspec

from ..errors import IllegalTransition
from .simulated import PerUserStore


class CallStatus(StrEnum):
    QUEUED = "queued"
    RINGING = "ringing"
    ANSWERED = "answered"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"


TRANSITIONS: dict[CallStatus, frozenset[CallStatus]] = {
    CallStatus.QUEUED: frozenset({CallStatus.RINGING, CallStatus.FAILED, CallStatus.CANCELED}),
    CallStatus.RINGING: frozenset(
        {CallStatus.ANSWERED, CallStatus.BUSY, CallStatus.NO_ANSWER, CallStatus.FAILED, CallStatus.CANCELED}
    ),
    CallStatus.ANSWERED: frozenset({CallStatus.COMPLETED, CallStatus.FAILED}),
}
"""Allowed next statuses; a status missing here is final."""

_SECONDS_TO = {
    CallStatus.RINGING: 1,
    CallStatus.ANSWERED: 4,
    CallStatus.COMPLETED: 30,
    CallStatus.BUSY: 3,
    CallStatus.NO_ANSWER: 30,
    CallStatus.FAILED: 1,
    CallStatus.CANCELED: 1,
}


class CallEvent(msgspec.Struct, frozen=True):
    index: int
    status: CallStatus
    at: int
    """Simulated seconds since the call was placed."""


class SimulatedCall(msgspec.Struct, kw_only=True):
    sid: str
    to: str
    from_: str = msgspec.field(name="from")
    replica_id: str | None = None
    status: CallStatus = CallStatus.QUEUED
    events: list[CallEvent]
    duration_seconds: int | None = None
    voice_call_id: UUID | None = None
    """The Pure Voice call this is (a replica answers a call placed with ``replica_id``; scheduled calls)."""


class SimulatedMessage(msgspec.Struct, frozen=True):
    """A text message the provider delivered (the simulated handset at ``to`` shows it)."""

    sid: str
    to: str
    body: str
    sent_at: datetime


class Telephony:
    """Per-user simulated calls and text messages, in memory."""

    def __init__(self) -> None:
        self._calls: PerUserStore[SimulatedCall] = PerUserStore()
        self._placed: dict[UUID, int] = {}
        self._messages: PerUserStore[SimulatedMessage] = PerUserStore(max_items=100)

    def send_message(self, user_id: UUID, to: str, body: str) -> SimulatedMessage:
        """Text ``body`` to ``to`` on the user's behalf; it is delivered at once."""
        message = SimulatedMessage(sid=f"SM{uuid4().hex}", to=to, body=body, sent_at=datetime.now(UTC))
        self._messages.put(user_id, message.sid, message)
        return message

    def messages(self, user_id: UUID) -> list[SimulatedMessage]:
        """The text messages sent on the user's behalf, oldest first."""
        return self._messages.items(user_id)

    def place(
        self, user_id: UUID, to: str, from_: str | None, replica_id: str | None, *, key: str = ""
    ) -> SimulatedCall:
        """A new ``queued`` call; ``key`` (e.g. the id of the call in our database) joins what its sid is made of."""
        number = self._placed[user_id] = self._placed.get(user_id, 0) + 1
        caller = from_ or default_number(user_id)
        digest = hashlib.sha256(f"{user_id}|{number}|{caller}|{to}{'|' + key if key else ''}".encode()).hexdigest()
        call = SimulatedCall(
            sid=f"CA{digest[:32]}",
            to=to,
            from_=caller,
            replica_id=replica_id,
            events=[CallEvent(0, CallStatus.QUEUED, 0)],
        )
        self._calls.put(user_id, call.sid, call)
        return call

    def get(self, user_id: UUID, sid: str) -> SimulatedCall | None:
        return self._calls.get(user_id, sid)

    def advance(self, call: SimulatedCall, status: CallStatus) -> SimulatedCall:
        """Move the call to ``status``; :class:`IllegalTransition` if it cannot go there from its current status."""
        allowed = TRANSITIONS.get(call.status, frozenset())
        if status not in allowed:
            expected = ", ".join(sorted(allowed)) or "nothing: the call is over"
            raise IllegalTransition(f"a {call.status} call cannot become {status} (expected {expected})")
        at = call.events[-1].at + _SECONDS_TO[status]
        call.events.append(CallEvent(len(call.events), status, at))
        call.status = status
        if status is CallStatus.COMPLETED:
            answered = next(e.at for e in call.events if e.status is CallStatus.ANSWERED)
            call.duration_seconds = at - answered
        return call


def default_number(user_id: UUID) -> str:
    """The user's own simulated phone number."""
    return "+1555" + str(int(hashlib.sha256(f"phone|{user_id}".encode()).hexdigest(), 16))[:7]
