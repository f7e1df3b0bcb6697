"""Runs the replicas' turns in rooms: one run per room at a time, bounded by turns and time, stoppable.

Each replica keeps one Sensay conversation per room: the room acts at Sensay as its own user
(``X-USER-ID`` derived from the room id), and each prompt carries what was said since that replica
last spoke, so Sensay's own history holds the rest of the context.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import uuid
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg

from protocol import ErrorCode, ErrorFrame, ReplyDeltaFrame, RoomTurnsFrame, room_stream

from ..hub.frames import message_frame
from ..hub.hub import Hub
from ..sensay.client import SensayClient
from ..sensay.errors import SensayError
from ..store import rooms
from ..store.records import Room, RoomMessage
from .turns import INSTRUCTIONS, Seat, TurnPlanner

logger = logging.getLogger(__name__)

ROOM_USER_NAMESPACE = uuid.UUID("6f1d3f4e-5b8a-4c1e-9a57-2f0e8c9d7b10")
DEFAULT_MAX_TURNS = 3
MAX_TURNS = 20
DEFAULT_TIME_LIMIT = 60.0
TRANSCRIPT_LINES = 12
LINE_CHARS = 600


def room_sensay_user(room_id: UUID) -> str:
    """The Sensay user a room acts as: one conversation per replica per room."""
    return str(uuid.uuid5(ROOM_USER_NAMESPACE, str(room_id)))


class RunState(enum.Enum):
    RUNNING = "running"
    STOPPED = "stopped"
    IDLE = "idle"


@dataclass
class Run:
    room: Room
    trigger: RoomMessage
    task: asyncio.Task[None] | None = None
    turns: int = 0
    superseded: asyncio.Event = field(default_factory=asyncio.Event)


class RoomConductor:
    def __init__(self, pool: asyncpg.Pool, sensay: SensayClient, hub: Hub) -> None:
        self.pool = pool
        self.sensay = sensay
        self.hub = hub
        self._runs: dict[UUID, Run] = {}
        self._names: dict[str, str] = {}
        self._previous: dict[UUID, str] = {}

    def trigger(self, room: Room, message: RoomMessage) -> None:
        """Start the replicas' turns after a user message; a run in progress ends after its current turn."""
        earlier = self._runs.get(room.id)
        if earlier is not None:
            earlier.superseded.set()
        run = Run(room, message)
        run.task = asyncio.create_task(self._run(run, earlier), name=f"room-run-{room.id}")
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
                await asyncio.shield(earlier.task)
        settings = run.room.settings
        max_turns = min(int(settings.get("max_turns", DEFAULT_MAX_TURNS)), MAX_TURNS)
        time_limit = float(settings.get("time_limit_seconds", DEFAULT_TIME_LIMIT))
        await self._announce(run, RunState.RUNNING)
        state, reason = RunState.IDLE, "done"
        try:
            async with asyncio.timeout(time_limit):
                reason = await self._turns(run, max_turns)
        except TimeoutError:
            state, reason = RunState.STOPPED, "time limit"
        except asyncio.CancelledError as exc:
            state, reason = RunState.STOPPED, (str(exc.args[0]) if exc.args else "stopped")
            await asyncio.shield(self._announce(run, state, reason))
            raise
        except SensayError as exc:
            state, reason = RunState.STOPPED, "a replica could not answer"
            await self.hub.send_to_channel(
                room_stream(str(run.room.id)),
                ErrorFrame(
                    code=ErrorCode.REPLICA_UNAVAILABLE if exc.retryable else ErrorCode.REPLICA_REJECTED,
                    message="a replica could not answer; the room's turns stopped",
                    retryable=exc.retryable,
                    stream=room_stream(str(run.room.id)),
                ),
            )
        finally:
            if self._runs.get(run.room.id) is run:
                del self._runs[run.room.id]
        await self._announce(run, state, reason)

    async def _turns(self, run: Run, max_turns: int) -> str:
        room = run.room
        seats = [Seat(rid, await self._name(room.id, rid)) for rid in room.replica_ids]
        planner = TurnPlanner(
            mode=room.mode,
            seats=seats,
            trigger=run.trigger.message,
            previous=self._previous.get(room.id),
            moderator_id=room.settings.get("moderator_id"),
        )
        last = run.trigger
        while True:
            if run.superseded.is_set():
                return "a new message arrived"
            if run.turns >= max_turns:
                return "turn limit"
            seat = await self._pick(run, planner, last)
            if seat is None:
                return "done"
            last = await self._speak(run, seat, last)
            planner.record(seat)
            self._previous[room.id] = seat.replica_id
            run.turns += 1

    async def _pick(self, run: Run, planner: TurnPlanner, last: RoomMessage) -> Seat | None:
        if run.room.mode != "moderated":
            return planner.next_speaker(last.message)
        assert planner.moderator_id is not None
        names = ", ".join(s.name for s in planner.moderator_candidates())
        answer = await self.sensay.chat(
            room_sensay_user(run.room.id),
            planner.moderator_id,
            f"You moderate the room. Who should speak next among: {names}? Answer with one name.\n"
            f"The last message was: {last.message[:LINE_CHARS]}",
        )
        return planner.resolve_pick(answer)

    async def _speak(self, run: Run, seat: Seat, answering: RoomMessage) -> RoomMessage:
        room = run.room
        stream = room_stream(str(room.id))
        prompt = await self._prompt(room, seat)
        parts: list[str] = []
        async for delta in self.sensay.chat_stream(room_sensay_user(room.id), seat.replica_id, prompt):
            frame = ReplyDeltaFrame(
                stream=stream, reply_to=str(answering.id), replica_id=seat.replica_id, index=len(parts), text=delta
            )
            await self.hub.send_to_channel(stream, frame)
            parts.append(delta)
        reply, _ = await rooms.append_message(
            self.pool,
            room.id,
            sender="replica",
            content="".join(parts),
            replica_id=seat.replica_id,
            reply_to=answering.id,
        )
        await self.hub.send_to_channel(stream, message_frame(reply))
        return reply

    async def _prompt(self, room: Room, seat: Seat) -> str:
        """What was said since this replica last spoke, then the mode's instruction."""
        recent = await rooms.transcript(self.pool, room.id, TRANSCRIPT_LINES)
        lines: list[str] = []
        for sender, email, replica_id, text in reversed(recent):
            if replica_id == seat.replica_id:
                break
            if sender == "replica" and replica_id:
                who = await self._name(room.id, replica_id)
            else:  # the address's local part only: the prompt reaches Sensay and other members' screens
                who = (email or "someone").split("@", 1)[0]
            lines.append(f"{who}: {text[:LINE_CHARS]}")
        instruction = INSTRUCTIONS[room.mode].format(topic=room.settings.get("topic") or room.name)
        return f'[Room "{room.name}", {room.mode}]\n' + "\n".join(reversed(lines)) + f"\n{instruction}"

    async def _name(self, room_id: UUID, replica_id: str) -> str:
        if replica_id not in self._names:
            replica = await self.sensay.get_replica(room_sensay_user(room_id), replica_id)
            self._names[replica_id] = replica.name
        return self._names[replica_id]
