"""Pure Voice: a mock phone call with a replica; each line of the transcript is streamed to the user's sockets."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from protocol import MAX_CONTENT_LENGTH, MAX_ID_LENGTH, ErrorCode, PrototypeEventFrame, ServerFrame

from ..errors import CallEnded, CallNotFound
from ..replies import CallerReplies, Reply, ReplyJob, UserAudience
from ..store import interactions, voice_calls
from ..store.errors import NotFound
from ..store.users import Executor
from ..store.voice_calls import VoiceCall
from .base import Action, Context, Outcome, Prototype, require_replica

ID = "pure-voice"


class StartCallParams(msgspec.Struct, forbid_unknown_fields=True):
    replica_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]


class SayParams(msgspec.Struct, forbid_unknown_fields=True):
    call_id: UUID
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONTENT_LENGTH)]


class StopCallParams(msgspec.Struct, forbid_unknown_fields=True):
    call_id: UUID


async def start_call(ctx: Context, user_id: UUID, params: StartCallParams) -> Outcome:
    """Call a replica: the call is active until stopped."""
    await require_replica(ctx, user_id, params.replica_id)
    async with ctx.pool.acquire() as conn, conn.transaction():
        call = await voice_calls.start_call(conn, user_id, params.replica_id)
        interaction = await interactions.record(
            conn, user_id, ID, "start_call", {"call_id": call.id, "replica_id": call.replica_id}
        )
    return Outcome({"call": call}, interaction)


async def say(ctx: Context, user_id: UUID, params: SayParams) -> Outcome:
    """Say a line on an active call; the transcript (the line, the replica's answer in pieces, then whole) streams."""
    call = await _active_call(ctx.pool, user_id, params.call_id)
    await ctx.hub.send_to_user(user_id, _line(str(call.id), "user", params.text, final=True))
    job = ReplyJob(
        kind=ID,
        asker=str(user_id),
        replica_id=call.replica_id,
        prompt=params.text,
        audience=UserAudience(user_id),
        reply_to=str(call.id),
    )
    reply = (await ctx.replies.run(job)).content
    details = {"call_id": call.id, "replica_id": call.replica_id, "text": params.text, "reply": reply}
    interaction = await interactions.record(ctx.pool, user_id, ID, "say", details)
    return Outcome({"call_id": call.id, "text": params.text, "reply": reply}, interaction)


class VoiceReplies(CallerReplies):
    """The replica's answer on a call: transcript events as it streams; the action records it."""

    def delta(self, job: ReplyJob, index: int, text: str) -> ServerFrame | None:
        return _line(job.reply_to, "replica", text, final=False)

    def shown(self, job: ReplyJob, reply: Reply) -> ServerFrame | None:
        return _line(job.reply_to, "replica", reply.content, final=True)

    def failed(self, job: ReplyJob, code: ErrorCode, detail: str) -> ServerFrame | None:
        # Listeners waiting for the replica's final line learn that it will not come.
        data = {"call_id": job.reply_to, "message": "the replica could not answer"}
        return PrototypeEventFrame(prototype=ID, event="transcript_error", data=data)


async def stop_call(ctx: Context, user_id: UUID, params: StopCallParams) -> Outcome:
    """Hang up: the call gets its end time and duration."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        call = await voice_calls.end_call(conn, user_id, params.call_id)
        if call is None:
            await _active_call(conn, user_id, params.call_id)  # raises the right 404 or 409
            raise AssertionError("unreachable: the call was not active")
        details = {"call_id": call.id, "replica_id": call.replica_id, "duration_seconds": call.duration_seconds}
        interaction = await interactions.record(conn, user_id, ID, "stop_call", details)
    return Outcome({"call": call}, interaction)


async def _active_call(db: Executor, user_id: UUID, call_id: UUID) -> VoiceCall:
    try:
        call = await voice_calls.get_call(db, user_id, call_id)
    except NotFound:
        raise CallNotFound(f"no call {call_id}") from None
    if call.status != "active":
        raise CallEnded(f"call {call_id} has ended")
    return call


def _line(call_id: str | None, speaker: Literal["user", "replica"], text: str, *, final: bool) -> PrototypeEventFrame:
    data = {"call_id": call_id, "speaker": speaker, "text": text, "final": final}
    return PrototypeEventFrame(prototype=ID, event="transcript", data=data)


async def state(ctx: Context, user_id: UUID) -> dict[str, Any]:
    """The user's calls, newest first, with their durations once ended."""
    return {"calls": await voice_calls.list_calls(ctx.pool, user_id)}


PROTOTYPE = Prototype(
    id=ID,
    name="Pure Voice",
    summary="A mock phone call with a replica: start a call, say lines, hear the replica answer as a streamed "
    "transcript, hang up.",
    state=state,
    actions={
        "start_call": Action(StartCallParams, start_call),
        "say": Action(SayParams, say),
        "stop_call": Action(StopCallParams, stop_call),
    },
    events={
        "transcript": "{call_id, speaker: user|replica, text, final}: the user's line (final), the replica's answer "
        "in pieces (final false), then the replica's whole line (final true)",
        "transcript_error": "{call_id, message}: the replica failed mid-answer; no final line follows",
    },
)
