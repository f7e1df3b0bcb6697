"""Runs the replicas' turns in rooms: one run per room at a time, bounded by turns and time, stoppable.

Each replica keeps one Sensay conversation per room: the room acts at Sensay as its own user
(``X-USER-ID`` derived from the room id), and each prompt carries what was said since that replica
last spoke, so Sensay's own history holds the rest of the context. Every turn is a job of the reply pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import uuid
from dataclasses import dataclass, field
from typing import Final
from uuid import UUID

import asyncpg

from protocol import ErrorFrame, RoomTurnsFrame, StoredMessage, room_stream

from ..errors import DomainError, error_code
from ..hub.hub import Hub
from ..replies import ReplicaDirectory, Replies, Reply, ReplyJob, RoomAudience, StreamReplies
from ..replies.failures import replica_failure
from ..store import rooms
from ..store.records import Room
from .turns import INSTRUCTIONS, AskModerator, Finished, Seat, Speak, TurnPlanner

logger = logging.getLogger(__name__)

KIND: Final = "room"
ROOM_USER_NAMESPACE: Final = uuid.UUID("6f1d3f4e-5b8a-4c1e-9a57-2f0e8c9d7b10")
TRANSCRIPT_LINES: Final = 12
LINE_CHARS: Final = 600


def room_sensay_user(room_id: UUID) -> str:
    """The Sensay user a room acts as: one conversation per replica per room."""
    return str(uuid.uuid5(ROOM_USER_NAMESPACE, str(room_id)))


class RunState(enum.Enum):
    RUNNING = "running"
    STOPPED = "stopped"
    IDLE = "idle"


class RoomReplies(StreamReplies):
    """A room turn is a replica message of ``room_messages`` answering the message before it."""

    failure_detail = "a replica could not answer; the room's turns stopped"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def store(self, job: ReplyJob, content: str) -> Reply:
        assert isinstance(job.audience, RoomAudience) and job.reply_to is not None
        kept, _ = await rooms.append_message(
            self.pool,
            job.audience.room_id,
            sender="replica",
            content=content,
            replica_id=job.replica_id,
            reply_to=UUID(job.reply_to),
        )
        return Reply(content=content, message=kept.wire())


@dataclass
class Run:
    room: Room
    trigger: StoredMessage
    task: asyncio.Task[None] | None = None
    turns: int = 0
    superseded: asyncio.Event = field(default_factory=asyncio.Event)


class RoomConductor:
    def __init__(self, pool: asyncpg.Pool, hub: Hub, replies: Replies, replicas: ReplicaDirectory) -> None:
        self.pool = pool
        self.hub = hub
        self.replies = replies
        self.replicas = replicas
        self._runs: dict[UUID, Run] = {}
        self._previous: dict[UUID, str] = {}
        replies.register(KIND, RoomReplies(pool))

    def trigger(self, room: Room, message: StoredMessage) -> None:
        """Start the replicas' turns after a user message; a run in progress ends after its current turn."""
        earlier = self._runs.get(room.id)
        if earlier is not None:
            earlier.superseded.set()
        run = Run(room, message)
        run.task = asyncio.create_task(self._run(run, earlier), name=f"room-run-{room.id}")
        run.task.add_done_callback(_log_crash)
        self._runs[room.id] = run

    async def stop(self, room_id: UUID, reason: str) -> bool:
        """Stop the room's run at once (a reply being streamed is dropped); ``False`` if none was running."""
        run = self._runs.get(room_id)
        if run is None or run.task is None or run.task.done():
            return False
        run.task.cancel(reason)
        with contextlib.suppress(asyncio.CancelledError):
            await run.task
        return True

    async def drain(self, timeout: float) -> None:
        tasks = [r.task for r in self._runs.values() if r.task is not None and not r.task.done()]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel("server shutting down")

    async def _announce(self, run: Run, state: RunState, reason: str | None = None) -> None:
        frame = RoomTurnsFrame(room_id=str(run.room.id), state=state.value, reason=reason, turns=run.turns)
        await self.hub.send_to_channel(room_stream(str(run.room.id)), frame)

    async def _run(self, run: Run, earlier: Run | None) -> None:
        if earlier is not None and earlier.task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(earlier.task)  # its failure was reported by its own run
        await self._announce(run, RunState.RUNNING)
        state, reason = RunState.IDLE, "done"
        try:
            async with asyncio.timeout(run.room.settings.time_limit_seconds):
                reason = await self._turns(run)
        except TimeoutError:
            state, reason = RunState.STOPPED, "time limit"
        except asyncio.CancelledError as exc:
            state, reason = RunState.STOPPED, (str(exc.args[0]) if exc.args else "stopped")
            await asyncio.shield(self._announce(run, state, reason))
            raise
        except _Reported:
            state, reason = RunState.STOPPED, "a replica could not answer"
        except Exception as exc:  # a name lookup, the moderator's pick, the transcript: not a reply job
            state, reason = RunState.STOPPED, "a replica could not answer"
            await self._report(run, exc)
        finally:
            if self._runs.get(run.room.id) is run:
                del self._runs[run.room.id]
        await self._announce(run, state, reason)

    async def _turns(self, run: Run) -> str:
        room = run.room
        asker = room_sensay_user(room.id)
        seats = [Seat(rid, await self.replicas.name(asker, rid)) for rid in room.replica_ids]
        planner = TurnPlanner(
            mode=room.mode,
            seats=seats,
            max_turns=room.settings.max_turns,
            previous=self._previous.get(room.id),
            moderator_id=room.settings.moderator_id,
        )
        last = run.trigger
        while not run.superseded.is_set():
            match planner.next(last.content):
                case Finished(reason):
                    return reason
                case AskModerator(moderator_id, candidates):
                    names = ", ".join(s.name for s in candidates)
                    answer = await self.replies.ask(
                        asker,
                        moderator_id,
                        f"You moderate the room. Who should speak next among: {names}? Answer with one name.\n"
                        f"The last message was: {last.content[:LINE_CHARS]}",
                    )
                    seat = planner.resolve_pick(answer)
                case Speak(seat):
                    pass
            last = await self._speak(run, seat, last)
            planner.record(seat)
            self._previous[room.id] = seat.replica_id
            run.turns += 1
        return "a new message arrived"

    async def _speak(self, run: Run, seat: Seat, answering: StoredMessage) -> StoredMessage:
        room = run.room
        job = ReplyJob(
            kind=KIND,
            asker=room_sensay_user(room.id),
            replica_id=seat.replica_id,
            prompt=await self._prompt(room, seat),
            audience=RoomAudience(room.id),
            stream=room_stream(str(room.id)),
            reply_to=answering.id,
            client_id=run.trigger.client_id,
        )
        try:
            reply = await self.replies.run(job)
        except DomainError as exc:
            raise _Reported from exc
        assert reply.message is not None
        return reply.message

    async def _report(self, run: Run, exc: Exception) -> None:
        """Tell the room (with the asking message's client id) and the log why its run stopped."""
        error = replica_failure(exc)
        logger.warning("room %s: its run stopped", run.room.id, exc_info=exc)
        code = error_code(error)
        stream = room_stream(str(run.room.id))
        frame = ErrorFrame(
            code=code,
            message=RoomReplies.failure_detail,
            id=run.trigger.client_id,
            retryable=code.retryable,
            stream=stream,
        )
        await self.hub.send_to_channel(stream, frame)

    async def _prompt(self, room: Room, seat: Seat) -> str:
        """What was said since this replica last spoke, then the mode's instruction."""
        recent = await rooms.transcript(self.pool, room.id, TRANSCRIPT_LINES)
        lines: list[str] = []
        for sender, email, replica_id, text in reversed(recent):
            if replica_id == seat.replica_id:
                break
            if sender == "replica" and replica_id:
                who = await self.replicas.name(room_sensay_user(room.id), replica_id)
            else:  # the address's local part only: the prompt reaches Sensay and other members' screens
                who = (email or "someone").split("@", 1)[0]
            lines.append(f"{who}: {text[:LINE_CHARS]}")
        instruction = INSTRUCTIONS[room.mode].format(topic=room.settings.topic or room.name)
        return f'[Room "{room.name}", {room.mode}]\n' + "\n".join(reversed(lines)) + f"\n{instruction}"


class _Reported(Exception):
    """A turn's reply failed, and the reply pipeline has already told the room and the log."""


def _log_crash(task: asyncio.Task[None]) -> None:
    """A run that ends with anything but a stop has a bug: log it rather than lose it."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        logger.error("a room run crashed", exc_info=exc)
