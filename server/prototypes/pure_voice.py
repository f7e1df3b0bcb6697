"""Pure Voice: phone calls with a replica, through the simulated telephony provider, transcribed line by line.

Calls start in the app (``start_call``), come in through the provider (a call placed with a ``replica_id`` that
is answered: the caller gives the owner's PIN, then the replica talks; a call from the owner's verified number
(``register_number``, ``verify_number``) skips the PIN), or are scheduled (``schedule_call``) and
placed by the scheduler when due, the replica opening the call. Every line is stored (``voice_lines``) and
streamed to the owner's sockets as ``transcript`` events; the replica's answers come through the reply pipeline.
Calls end on hang-up, from the provider, or after ``VOICE_CALL_MAX_SECONDS`` of talk (downtime not counted).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal
from uuid import UUID

import msgspec

from protocol import MAX_CONTENT_LENGTH, MAX_ID_LENGTH, ErrorCode, PrototypeEventFrame, ServerFrame

from ..context.due_times import parse_due
from ..errors import CallEnded, CallNotFound, InvalidInput, PinRequired, WrongPin
from ..replies import CallerReplies, Reply, ReplyJob, UserAudience
from ..store import interactions, voice_calls, voice_numbers
from ..store.errors import NotFound
from ..store.records import Interaction
from ..store.users import Executor
from ..store.voice_calls import DueCall, Line, LineSource, VoiceCall
from . import voice_numbers as numbers
from .base import Action, Context, Outcome, Prototype, require_replica
from .speech import MAX_AUDIO_SECONDS
from .telephony_sim import CallStatus, SimulatedCall, default_number

ID = "pure-voice"
CALLS_PER_SWEEP: Final = 100
MAX_AUDIO_BYTES: Final = 44 + 2 * 16000 * MAX_AUDIO_SECONDS
"""A WAV header and 30 s of 16-bit mono audio at 16 kHz."""

ReplicaId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
Pin = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4,8}$", description="4 to 8 digits")]
Phone = Annotated[str, msgspec.Meta(pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164 number")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONTENT_LENGTH)]


class StartCallParams(msgspec.Struct, forbid_unknown_fields=True):
    replica_id: ReplicaId


class SayParams(msgspec.Struct, forbid_unknown_fields=True):
    call_id: UUID
    text: Text


class SayAudioParams(msgspec.Struct, forbid_unknown_fields=True):
    call_id: UUID
    audio: Annotated[bytes, msgspec.Meta(max_length=MAX_AUDIO_BYTES, description="base64 of a 16 kHz mono WAV")]


class StopCallParams(msgspec.Struct, forbid_unknown_fields=True):
    call_id: UUID


class SetPinParams(msgspec.Struct, forbid_unknown_fields=True):
    pin: Pin


class EnterPinParams(msgspec.Struct, forbid_unknown_fields=True):
    call_id: UUID
    pin: Annotated[str, msgspec.Meta(max_length=32)]


class ScheduleCallParams(msgspec.Struct, forbid_unknown_fields=True):
    replica_id: ReplicaId
    at: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=200,
            description='RFC 3339 with offset, or words: "tomorrow at 5pm", "in 10 minutes"',
        ),
    ]
    to: Phone | None = None
    """The number called (default: the user's verified number, else their own simulated number)."""
    purpose: Annotated[str, msgspec.Meta(min_length=1, max_length=500)] | None = None


async def start_call(ctx: Context, user_id: UUID, params: StartCallParams) -> Outcome:
    """Call a replica from the app: the call is active until stopped or it expires."""
    await require_replica(ctx, user_id, params.replica_id)
    async with ctx.pool.acquire() as conn, conn.transaction():
        call = await voice_calls.start_call(conn, user_id, params.replica_id)
        interaction = await interactions.record(
            conn, user_id, ID, "start_call", {"call_id": call.id, "replica_id": call.replica_id}
        )
    return Outcome({"call": call}, interaction)


async def say(ctx: Context, user_id: UUID, params: SayParams) -> Outcome:
    """Say a line on an active call; the transcript (the line, the replica's answer in pieces, then whole) streams."""
    return await _say(ctx, user_id, params.call_id, params.text, "text", "say")


async def say_audio(ctx: Context, user_id: UUID, params: SayAudioParams) -> Outcome:
    """Say a line as audio (16 kHz mono WAV, base64): it becomes text offline, then goes on as ``say``."""
    await _active_call(ctx.pool, user_id, params.call_id)  # a closed call is refused before the audio is decoded
    text = await ctx.voice.speech.transcribe(params.audio)
    return await _say(ctx, user_id, params.call_id, text, "audio", "say_audio")


async def _say(ctx: Context, user_id: UUID, call_id: UUID, text: str, source: LineSource, record_as: str) -> Outcome:
    call = await _active_call(ctx.pool, user_id, call_id)
    await require_replica(ctx, user_id, call.replica_id)
    line = await voice_calls.add_line(ctx.pool, user_id, call.id, "user", source, text)
    await ctx.hub.send_to_user(user_id, _line(call.id, "user", text, final=True))
    reply = (await ctx.replies.run(_reply_job(user_id, call, line.seq, text))).content
    details = {"call_id": call.id, "replica_id": call.replica_id, "text": text, "source": source, "reply": reply}
    interaction = await interactions.record(ctx.pool, user_id, ID, record_as, details)
    return Outcome({"call_id": call.id, "text": text, "reply": reply, "seq": line.seq}, interaction)


def _reply_job(user_id: UUID, call: VoiceCall, answers: int, prompt: str, *, skip_history: bool = False) -> ReplyJob:
    return ReplyJob(
        kind=ID,
        asker=str(user_id),
        replica_id=call.replica_id,
        prompt=prompt,
        audience=UserAudience(user_id),
        reply_to=f"{call.id}#{answers}",
        skip_history=skip_history,
    )


class VoiceReplies(CallerReplies):
    """The replica's line on a call: transcript events as it streams, kept as a line answering the caller's."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def existing(self, job: ReplyJob) -> Reply | None:
        call_id, answers = _answering(job)
        line = await voice_calls.answer_to(self.ctx.pool, call_id, answers)
        return Reply(content=line.text) if line is not None else None

    async def store(self, job: ReplyJob, content: str) -> Reply:
        call_id, answers = _answering(job)
        assert isinstance(job.audience, UserAudience)
        await voice_calls.add_line(self.ctx.pool, job.audience.user_id, call_id, "replica", "replica", content, answers)
        return Reply(content=content)

    def delta(self, job: ReplyJob, index: int, text: str) -> ServerFrame | None:
        return _line(_answering(job)[0], "replica", text, final=False)

    def shown(self, job: ReplyJob, reply: Reply) -> ServerFrame | None:
        return _line(_answering(job)[0], "replica", reply.content, final=True)

    def failed(self, job: ReplyJob, code: ErrorCode, detail: str) -> ServerFrame | None:
        # Listeners waiting for the replica's final line learn that it will not come.
        data = {"call_id": str(_answering(job)[0]), "message": "the replica could not answer"}
        return PrototypeEventFrame(prototype=ID, event="transcript_error", data=data)


def _answering(job: ReplyJob) -> tuple[UUID, int]:
    """The call and the line a voice reply answers (``reply_to`` is ``<call id>#<line seq>``)."""
    assert job.reply_to is not None
    call_id, _, seq = job.reply_to.partition("#")
    return UUID(call_id), int(seq)


async def stop_call(ctx: Context, user_id: UUID, params: StopCallParams) -> Outcome:
    """Hang up (or cancel a scheduled call): the call gets its end time and its talk time as duration."""
    ended = await _end(ctx, user_id, params.call_id, "hung_up", "stop_call")
    if ended is None:
        await _active_call(ctx.pool, user_id, params.call_id)  # raises the right 404 or 409
        raise AssertionError("unreachable: the call was not open")
    call, interaction = ended
    return Outcome({"call": call}, interaction)


async def _end(
    ctx: Context, user_id: UUID, call_id: UUID, reason: voice_calls.EndReason, record_as: str
) -> tuple[VoiceCall, Interaction] | None:
    """End the call if open, record it and tell the owner's sockets; ``None`` when it was not open."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        call = await voice_calls.end_call(conn, user_id, call_id, reason, ctx.settings.voice_count_grace)
        if call is None:
            return None
        details = _ended(call)
        interaction = await interactions.record(conn, user_id, ID, record_as, details)
    await ctx.hub.send_to_user(user_id, _event("call_ended", details))
    _hang_up_provider(ctx, user_id, call)
    return call, interaction


def _ended(call: VoiceCall) -> dict[str, Any]:
    """What ``call_ended`` says. Sent only once the end is committed: a client reading the call on it sees it ended
    (and should the process die first, the recorded interaction still reaches the owner through the change feed)."""
    return {
        "call_id": call.id,
        "replica_id": call.replica_id,
        "reason": call.end_reason,
        "duration_seconds": call.duration_seconds,
    }


def _hang_up_provider(ctx: Context, user_id: UUID, call: VoiceCall) -> None:
    """Tell the simulated provider the call is over (it forgets calls on restart: then there is nothing to tell)."""
    simulated = ctx.voice.telephony.get(user_id, call.provider_sid) if call.provider_sid else None
    if simulated is not None and simulated.status is CallStatus.ANSWERED:
        ctx.voice.telephony.advance(simulated, CallStatus.COMPLETED)


async def set_pin(ctx: Context, user_id: UUID, params: SetPinParams) -> Outcome:
    """Set the PIN inbound callers must give before the replica talks (kept as an argon2id hash)."""
    pin_hash = await ctx.voice.passwords.hash(params.pin, client=str(user_id))
    async with ctx.pool.acquire() as conn, conn.transaction():
        await voice_calls.set_pin(conn, user_id, pin_hash)
        interaction = await interactions.record(conn, user_id, ID, "set_pin", {"pin_set": True})
    return Outcome({"pin_set": True}, interaction)


async def enter_pin(ctx: Context, user_id: UUID, params: EnterPinParams) -> Outcome:
    """Give the PIN on an inbound call; a wrong one is 403 ``wrong_pin``, and after VOICE_PIN_ATTEMPTS the call
    ends."""
    call = await _awaiting_pin(ctx.pool, user_id, params.call_id)
    stored = await voice_calls.pin_hash(ctx.pool, user_id)
    if await ctx.voice.passwords.verify(stored, params.pin, client=str(user_id)):
        async with ctx.pool.acquire() as conn, conn.transaction():
            await voice_calls.pin_passed(conn, call.id)
            details = {"call_id": call.id, "accepted": True}
            interaction = await interactions.record(conn, user_id, ID, "enter_pin", details)
        return Outcome({"call": await voice_calls.get_call(ctx.pool, user_id, call.id)}, interaction)
    attempts = await voice_calls.pin_failed(ctx.pool, call.id)
    if attempts == 0:  # meanwhile another attempt opened or ended the call
        await _awaiting_pin(ctx.pool, user_id, call.id)
    allowed = ctx.settings.voice_pin_attempts
    details = {"call_id": call.id, "accepted": False, "attempts": attempts}
    await interactions.record(ctx.pool, user_id, ID, "enter_pin", details)
    why = "no PIN is set (set_pin)" if stored is None else "wrong PIN"
    if attempts >= allowed:
        await _end(ctx, user_id, call.id, "pin_failed", "call_ended")
        raise WrongPin(f"{why}: no attempts left, the call has ended")
    left = allowed - attempts
    raise WrongPin(f"{why}: {left} attempt{'s' if left > 1 else ''} left")


async def _awaiting_pin(db: Executor, user_id: UUID, call_id: UUID) -> VoiceCall:
    call = await _call(db, user_id, call_id)
    if call.status == "ended":
        raise CallEnded(f"call {call.id} has ended")
    if call.status != "awaiting_pin":
        raise InvalidInput(f"call {call.id} does not wait for a PIN")
    return call


async def schedule_call(ctx: Context, user_id: UUID, params: ScheduleCallParams) -> Outcome:
    """Have the replica phone a number at a time ("tomorrow at 5pm", or RFC 3339); the scheduler places it."""
    await require_replica(ctx, user_id, params.replica_id)
    now = datetime.now(UTC)
    when = await asyncio.to_thread(_when, params.at, now, ctx.settings.task_timezone)  # dateparser is CPU-bound
    to = params.to or await voice_numbers.verified_number(ctx.pool, user_id) or default_number(user_id)
    async with ctx.pool.acquire() as conn, conn.transaction():
        call = await voice_calls.schedule_call(conn, user_id, params.replica_id, to, params.purpose, when)
        details = {"call_id": call.id, "replica_id": call.replica_id, "to": to, "scheduled_for": when}
        interaction = await interactions.record(conn, user_id, ID, "schedule_call", details)
    return Outcome({"call": call}, interaction)


def _when(text: str, now: datetime, timezone: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        found = parse_due(text, now, timezone)
        if found is None:
            raise InvalidInput(f"no time found in {text!r} (say e.g. 'tomorrow at 5pm' or give RFC 3339)") from None
        return found
    if when.tzinfo is None:
        raise InvalidInput("give the time with its offset (RFC 3339), e.g. 2030-01-01T17:00:00+00:00")
    if when < now:
        raise InvalidInput(f"{text} has passed")
    return when


async def place_due_calls(ctx: Context) -> int:
    """Place the scheduled calls that are due, once: the claim and the record share a transaction, the events follow
    its commit; the replica's opening line then streams (and is kept) through the reply pipeline."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        due = await voice_calls.claim_due(conn, CALLS_PER_SWEEP)
        placed: list[tuple[DueCall, dict[str, Any]]] = []
        for item in due:
            call = item.call
            simulated = _place(ctx, item.user_id, call)
            await voice_calls.set_provider_sid(conn, call.id, simulated.sid)
            details = {"call_id": call.id, "sid": simulated.sid, "to": call.peer_number, "purpose": call.purpose}
            await interactions.record(conn, item.user_id, ID, "call_placed", details)
            placed.append((item, details))
    for item, details in placed:
        await ctx.hub.send_to_user(item.user_id, _event("call_placed", details))
        about = f" about: {item.call.purpose}" if item.call.purpose else ""
        prompt = f"[You are phoning the user now, as they scheduled{about}. Say your opening line.]"
        ctx.replies.start(_reply_job(item.user_id, item.call, 0, prompt, skip_history=True))
    return len(due)


def _place(ctx: Context, user_id: UUID, call: VoiceCall) -> SimulatedCall:
    """The call through the simulated provider: from the user's number to the callee, who answers."""
    assert call.peer_number is not None
    telephony = ctx.voice.telephony
    simulated = telephony.place(user_id, call.peer_number, default_number(user_id), call.replica_id, key=str(call.id))
    simulated.voice_call_id = call.id
    telephony.advance(simulated, CallStatus.RINGING)
    return telephony.advance(simulated, CallStatus.ANSWERED)


async def expire_calls(ctx: Context) -> int:
    """Count every open call's talk time, and end those that talked for VOICE_CALL_MAX_SECONDS (``expired``)."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        await voice_calls.count_talk(conn, ctx.settings.voice_count_grace)
        expired = await voice_calls.claim_expired(conn, ctx.settings.voice_call_max_seconds, CALLS_PER_SWEEP)
        ended = [(item, _ended(item.call)) for item in expired]
        for item, details in ended:
            await interactions.record(conn, item.user_id, ID, "call_ended", details)
    for item, details in ended:
        await ctx.hub.send_to_user(item.user_id, _event("call_ended", details))
        _hang_up_provider(ctx, item.user_id, item.call)
    return len(expired)


async def provider_answered(ctx: Context, user_id: UUID, simulated: SimulatedCall) -> None:
    """A call placed with the provider for a replica was answered: it becomes an inbound call waiting for the PIN,
    or an active one when it comes from the user's verified number."""
    assert simulated.replica_id is not None
    async with ctx.pool.acquire() as conn, conn.transaction():
        known = simulated.from_ == await voice_numbers.verified_number(conn, user_id)
        call = await voice_calls.open_inbound(
            conn, user_id, simulated.replica_id, simulated.from_, simulated.sid, verified_caller=known
        )
        details = {"call_id": call.id, "sid": simulated.sid, "from": simulated.from_, "replica_id": call.replica_id,
                   "verified_caller": known}  # fmt: skip
        await interactions.record(conn, user_id, ID, "incoming_call", details)
    simulated.voice_call_id = call.id
    await ctx.hub.send_to_user(user_id, _event("incoming_call", details))


async def provider_ended(ctx: Context, user_id: UUID, simulated: SimulatedCall) -> None:
    """The provider ended a call the replica was on (the caller hung up, or the line failed)."""
    if simulated.voice_call_id is not None:
        await _end(ctx, user_id, simulated.voice_call_id, "provider", "call_ended")


async def _call(db: Executor, user_id: UUID, call_id: UUID) -> VoiceCall:
    try:
        return await voice_calls.get_call(db, user_id, call_id)
    except NotFound:
        raise CallNotFound(f"no call {call_id}") from None


async def _active_call(db: Executor, user_id: UUID, call_id: UUID) -> VoiceCall:
    call = await _call(db, user_id, call_id)
    if call.status == "awaiting_pin":
        raise PinRequired(f"call {call_id} waits for the caller's PIN (enter_pin)")
    if call.status == "scheduled":
        raise CallEnded(f"call {call_id} is scheduled for {call.scheduled_for}, not yet placed")
    if call.status != "active":
        raise CallEnded(f"call {call_id} has ended")
    return call


def _line(call_id: UUID, speaker: Literal["user", "replica"], text: str, *, final: bool) -> PrototypeEventFrame:
    return _event("transcript", {"call_id": call_id, "speaker": speaker, "text": text, "final": final})


def _event(event: str, data: dict[str, Any]) -> PrototypeEventFrame:
    return PrototypeEventFrame(prototype=ID, event=event, data=msgspec.to_builtins(data))


async def state(ctx: Context, user_id: UUID) -> dict[str, Any]:
    """The user's calls, newest first (scheduled ones by their time), their talk times, whether a PIN is set, the
    user's simulated number (calls to it reach the replica) and their own verified (or pending) number."""
    async with ctx.pool.acquire() as conn:
        calls = await voice_calls.list_calls(conn, user_id)
        pin_set = await voice_calls.pin_hash(conn, user_id) is not None
        number = await voice_numbers.get(conn, user_id)
    return {
        "calls": calls,
        "pin_set": pin_set,
        "number": default_number(user_id),
        "verified_number": number.number,
        "pending_number": number.pending_number,
        "max_call_seconds": ctx.settings.voice_call_max_seconds,
    }


PROTOTYPE = Prototype(
    id=ID,
    name="Pure Voice",
    summary="Phone calls with a replica: start one in the app, have one come in through the mock telephony "
    "provider (the caller gives your PIN, unless calling from your verified number), or schedule the replica to "
    "call; say lines as text or audio and hear the replica answer as a streamed transcript, kept per call; calls "
    "end on hang-up or after VOICE_CALL_MAX_SECONDS.",
    state=state,
    actions={
        "start_call": Action(StartCallParams, start_call),
        "say": Action(SayParams, say),
        "say_audio": Action(SayAudioParams, say_audio),
        "stop_call": Action(StopCallParams, stop_call),
        "set_pin": Action(SetPinParams, set_pin),
        "enter_pin": Action(EnterPinParams, enter_pin),
        "schedule_call": Action(ScheduleCallParams, schedule_call),
        "register_number": Action(numbers.RegisterNumberParams, numbers.register_number),
        "verify_number": Action(numbers.VerifyNumberParams, numbers.verify_number),
        "remove_number": Action(numbers.NoParams, numbers.remove_number),
    },
    events={
        "transcript": "{call_id, speaker: user|replica, text, final}: the user's line (final), the replica's answer "
        "in pieces (final false), then the replica's whole line (final true)",
        "transcript_error": "{call_id, message}: the replica failed mid-answer; no final line follows",
        "incoming_call": "{call_id, sid, from, replica_id, verified_caller}: a call came in through the provider; it "
        "waits for the PIN unless it comes from the user's verified number (verified_caller)",
        "call_placed": "{call_id, sid, to, purpose}: a scheduled call was placed and answered; the replica opens it",
        "call_ended": "{call_id, replica_id, reason: hung_up|expired|pin_failed|canceled|provider, duration_seconds}",
    },
)


async def transcript(ctx: Context, user_id: UUID, call_id: UUID, *, after: int, limit: int) -> Transcript:
    """A page of the user's call's transcript, in order from the line after ``after``."""
    async with ctx.pool.acquire() as conn:
        call = await _call(conn, user_id, call_id)
        lines = await voice_calls.list_lines(conn, user_id, call_id, after=after, limit=limit)
    return Transcript(call, lines, lines[-1].seq if len(lines) == limit else None)


class Transcript(msgspec.Struct):
    """A call and a page of its lines in order; `next_after`, when set, asks for the lines after them."""

    call: VoiceCall
    lines: list[Line]
    next_after: int | None
