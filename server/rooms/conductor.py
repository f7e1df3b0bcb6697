"""Runs the replicas' turns in rooms: one run per room at a time, bounded by turns and time, stoppable.

The planner (``turns.py``) decides; the conductor carries out each decision: a reply job for a turn, a one-off
question for a moderator, a voter or the judge, a frame for a phase, a vote or a verdict.

Each replica keeps one Sensay conversation per room: the room acts at Sensay as its own user (``X-USER-ID`` derived
from the room id), and each prompt carries what was said since that replica last spoke, so Sensay's own history
holds the rest of the context. Every turn is a job of the reply pipeline.

A run is a row of ``replies`` (kind ``room.run``, answering the message that started it), held with a lease
(:class:`~server.replies.leases.Leases`, the reply pipeline's own mechanism) while it runs: when its process dies,
another process takes the run up and carries it out again, reusing the turns already stored (and showing them again:
one may have been stored but never shown) and looking in Sensay's history for a turn that was being asked. A process
that stops lets each room's current turn finish, then hands the run over. A run held up by a database outage tells
the room its turn is delayed and is taken up again once the database answers. A failed run is kept as failed: when
the same ``room.send`` comes again, the run is carried out again the same way, so only the failed turn and those
after it ask Sensay.

A room has at most one run under way and one waiting: a message that arrives during a run replaces the waiting
one (its run would only be superseded before it began), so a room whose replicas are busy costs nothing per
message. ``room.turns`` tells members what changes: ``running`` when the room's replicas start taking turns,
the ending when they stop; a run superseded by the next one, and the next one starting, announce nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial
from typing import Any, Final
from uuid import UUID

import asyncpg

from protocol import (
    ErrorFrame,
    RoomBallot,
    RoomPhaseFrame,
    RoomTurnsFrame,
    RoomVerdictFrame,
    RoomVoteFrame,
    StoredMessage,
    room_stream,
)

from ..errors import DomainError, ReplyDelayed, error_code
from ..hub.hub import Hub
from ..logs import log_task_failure
from ..outages import unreachable
from ..replies import Leases, ReplicaDirectory, Replies, ReplyJob, RoomAudience
from ..replies.asking import HANDOVER_SECONDS, LeftToLease
from ..replies.failures import replica_failure
from ..replies.leases import Claim, ReplyState
from ..sensay.client import Replica
from ..store import rooms
from ..store.records import Room
from . import conclusions, modes, prompts
from .asking import Seat
from .prompts import KIND, TRANSCRIPT_LINES, room_sensay_user
from .room_replies import RoomReplies
from .runs import Ending, Run, RunState, Waiting
from .turns import (
    CONSENSUS,
    DECIDED_BY_VOTE,
    DONE,
    GOAL_REACHED,
    AskModerator,
    EnterPhase,
    Finished,
    Judge,
    Speak,
    TurnPlanner,
    Vote,
)

logger = logging.getLogger(__name__)

RUN_KIND: Final = "room.run"
SHUTTING_DOWN: Final = "server shutting down"
TAKEN_OVER: Final = "taken over by another process"
DELAYED: Final = "waiting for the database"
DELAYED_DETAIL: Final = "the database is not answering; the room's turns carry on once it answers again"
ORPHAN_HORIZON: Final = 7 * 24 * 3600.0
"""Seconds back the sweeper looks for acked room messages whose run was never recorded (older ones are left)."""
RoomFrame = RoomPhaseFrame | RoomVoteFrame | RoomVerdictFrame


class RoomConductor:
    def __init__(
        self, pool: asyncpg.Pool, hub: Hub, replies: Replies, replicas: ReplicaDirectory, leases: Leases
    ) -> None:
        self.pool = pool
        self.hub = hub
        self.replies = replies
        self.replicas = replicas
        self.leases = leases
        self._draining = False
        self._runs: dict[UUID, Run] = {}
        """The run under way in each room."""
        self._waiting: dict[UUID, Waiting] = {}
        """The run of each room's newest message, to start when the run under way ends."""
        self._shown: dict[UUID, Ending | None] = {}
        """Rooms whose members were told ``running`` and not yet the ending (the last run's ending, once known)."""
        self._previous: dict[UUID, str] = {}
        self._previous_at_start: dict[str, str | None] = {}
        """Who spoke before each failed run began, so its re-run plans the same turns (this process's runs)."""
        self._storage = RoomReplies(pool)
        replies.register(KIND, self._storage)
        replies.resume_with(RUN_KIND, self._take_up)
        replies.adopt_with(RUN_KIND, self._orphans)

    def trigger(self, room: Room, message: StoredMessage, *, claim: Claim | None = None) -> None:
        """Start the replicas' turns after a user message; a run in progress ends after its current turn."""
        current = self._runs.get(room.id)
        if current is None:
            self._start(Waiting(room, message, claim))
            return
        current.superseded = True
        self._drop_waiting(room.id)
        self._waiting[room.id] = Waiting(room, message, claim)

    def _start(self, waiting: Waiting) -> None:
        room, claim = waiting.room, waiting.claim
        run = Run(room, waiting.message, claim=claim, taken_up=claim is not None)
        if run.trigger.id in self._previous_at_start:
            run.previous = self._previous_at_start[run.trigger.id]
        else:
            run.previous = self._previous.get(room.id)
        run.task = asyncio.create_task(self._run(run), name=f"room-run-{room.id}")
        run.task.add_done_callback(partial(log_task_failure, logger))
        self._runs[room.id] = run

    def _drop_waiting(self, room_id: UUID) -> None:
        """Forget the room's waiting run: it never starts (a run taken up from a dead process is settled)."""
        dropped = self._waiting.pop(room_id, None)
        if dropped is not None and dropped.claim is not None:
            run = Run(dropped.room, dropped.message, claim=dropped.claim, taken_up=True)
            settle = asyncio.create_task(self._record(run, None), name=f"room-run-dropped-{room_id}")
            settle.add_done_callback(partial(log_task_failure, logger))

    async def retry(self, room: Room, message: StoredMessage) -> bool:
        """Run the turns of ``message`` again if its run failed (the member sent it again); ``False`` if not."""
        try:
            outcome = await self.leases.outcome(RUN_KIND, message.id)
        except Exception:
            logger.warning("room %s: could not tell whether the run of %s failed", room.id, message.id, exc_info=True)
            return False
        if outcome is None or outcome.state is not ReplyState.FAILED:
            return False
        running, waiting = self._runs.get(room.id), self._waiting.get(room.id)
        if (running is not None and running.trigger.id == message.id) or (
            waiting is not None and waiting.message.id == message.id
        ):
            return False  # being re-run already
        logger.info("room %s: re-running the failed turns of %s", room.id, message.id)
        self.trigger(room, message)
        return True

    async def stop(self, room_id: UUID, reason: str) -> bool:
        """Stop the room's run at once (a reply being streamed is dropped); ``False`` if none was running."""
        self._drop_waiting(room_id)
        run = self._runs.get(room_id)
        if run is None or run.task is None or run.task.done():
            return False
        run.task.cancel(reason)
        with contextlib.suppress(asyncio.CancelledError):
            await run.task
        return True

    async def drain(self, timeout: float) -> None:
        """Let each room's current turn finish (within ``timeout``), then hand its run over: another process (or
        this one restarted) carries on with the next turn at once. Nothing new is claimed meanwhile: a room's
        waiting run is left pending for another process."""
        self._draining = True
        self.leases.close()
        deadline = asyncio.get_running_loop().time() + timeout
        while tasks := [r.task for r in self._runs.values() if r.task is not None and not r.task.done()]:
            # A run that ends starts its room's waiting run: wait for those too, within the same time.
            left = deadline - asyncio.get_running_loop().time()
            _done, pending = await asyncio.wait(tasks, timeout=max(0.0, left))
            if pending:
                for task in pending:
                    task.cancel(SHUTTING_DOWN)
                await asyncio.wait(pending, timeout=3 * HANDOVER_SECONDS)  # as Replies.drain: doubt, stop, hand back
                return

    async def _announce(self, run: Run, state: RunState, reason: str | None = None) -> None:
        room = run.room
        roles = (
            modes.roles(room.mode, room.replica_ids, room.settings.moderator_id) if state is RunState.RUNNING else {}
        )
        frame = RoomTurnsFrame(
            room_id=str(room.id),
            state=state.value,
            reason=reason,
            turns=run.turns,
            run_id=run.trigger.id,
            roles=roles or None,
        )
        await self.hub.send_to_channel(room_stream(str(run.room.id)), frame)

    async def _run(self, run: Run) -> None:
        room_id = run.room.id
        try:
            await self._carry_out(run)
        finally:
            if self._runs.get(room_id) is run:
                del self._runs[room_id]
            following = self._waiting.pop(room_id, None)
            if following is not None:
                self._start(following)  # the room's turns go on: its members hear of it when they end
        ending = self._shown.get(room_id)
        if ending is not None and room_id not in self._runs:
            del self._shown[room_id]
            await self._announce(ending.run, ending.state, ending.reason)

    async def _carry_out(self, run: Run) -> None:
        """Claim the run and take its turns; the ending is kept for the announcement (see ``_shown``)."""
        room_id = run.room.id
        try:
            if run.claim is None and not await self._claim(run):
                return  # another process runs it, or it ran already
        except asyncio.CancelledError as exc:
            if self._shown.pop(room_id, None) is not None:  # the room's turns stop before this run began
                await asyncio.shield(self._announce(run, RunState.STOPPED, _cancelled(exc)))
            raise
        if run.superseded:
            await self._record(run, None)  # a newer message came while it was claimed: it never began
            return
        run.started = asyncio.get_running_loop().time()
        if room_id not in self._shown:
            await self._announce(run, RunState.RUNNING)
        self._shown[room_id] = None
        state, reason = RunState.IDLE, DONE
        heartbeat = self._keep(run)
        try:
            async with asyncio.timeout(None) as deadline:
                planner = await self._planner(run)
                limit = run.room.settings.time_limit_seconds or modes.default_time_limit(planner.budget)
                deadline.reschedule(run.started + limit)
                reason = await self._turns(run, planner)
        except TimeoutError:
            state, reason = RunState.STOPPED, "time limit"
        except asyncio.CancelledError as exc:
            state, reason = RunState.STOPPED, _cancelled(exc)
            if reason == SHUTTING_DOWN:  # handed over: the run carries on elsewhere, nothing to announce
                await asyncio.shield(self._hand_over(run, heartbeat, in_doubt=isinstance(exc, LeftToLease)))
                raise
            if reason != TAKEN_OVER:
                await asyncio.shield(self._record(run, None))
            self._shown.pop(room_id, None)
            await asyncio.shield(self._announce(run, state, reason))
            raise
        except _HandedOver:
            await self._hand_over(run, heartbeat)
            return
        except _Reported as exc:
            if isinstance(exc.__cause__, ReplyDelayed):  # the room was told; the run's lease takes it up again
                state, reason = RunState.STOPPED, DELAYED
            else:
                state, reason = RunState.STOPPED, "a replica could not answer"
                await self._record(run, exc.__cause__ or exc)
        except Exception as exc:  # a name lookup, a moderator's pick, a vote, a verdict: not a reply job
            if run.claim is not None and unreachable(exc):  # the run's lease takes it up again
                state, reason = RunState.STOPPED, DELAYED
                self.leases.outage.noticed(exc)
                notice = self._storage.delayed(run.claim.job, DELAYED_DETAIL)
                if notice is not None:
                    await self.hub.send_to_channel(room_stream(str(run.room.id)), notice)
            else:
                state, reason = RunState.STOPPED, "a replica could not answer"
                await self._report(run, exc)
                await self._record(run, exc)
        else:
            await self._record(run, None)
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
        if room_id in self._shown:
            self._shown[room_id] = Ending(run, state, reason)

    async def _hand_over(self, run: Run, heartbeat: asyncio.Task[None] | None, *, in_doubt: bool = False) -> None:
        """Hand the run back for another process to carry on at once; ``in_doubt`` (a turn's request to Sensay is
        unanswered): leave it to its lease, so that the successor finds the turn in Sensay's history."""
        if heartbeat is not None:
            heartbeat.cancel()
        if run.claim is not None and not in_doubt:
            await self.leases.release(run.claim.job)
        elif run.claim is not None:
            logger.warning("room %s: a turn's request to Sensay is in doubt; its run is left to its lease", run.room.id)

    def _run_job(self, room_id: UUID, trigger: StoredMessage) -> ReplyJob:
        """The row of a run: enough for any process to find the room and the message again."""
        return ReplyJob(
            kind=RUN_KIND,
            asker=room_sensay_user(room_id),
            replica_id="",
            prompt=trigger.content,
            audience=RoomAudience(room_id),
            stream=room_stream(str(room_id)),
            reply_to=trigger.id,
            client_id=trigger.client_id,
        )

    async def _claim(self, run: Run) -> bool:
        """Hold the run's lease; ``False`` when another process holds it or it ran already."""
        job = self._run_job(run.room.id, run.trigger)
        try:
            run.claim = await self.leases.take(job)
            if run.claim is not None:
                await self.leases.asked(job)  # a successor looks in Sensay's history for turns asked from now on
        except Exception:
            logger.warning("room %s: the run of %s runs without a lease", run.room.id, run.trigger.id, exc_info=True)
            return True
        return run.claim is not None

    def _keep(self, run: Run) -> asyncio.Task[None] | None:
        """Renew the run's lease while it runs; a run another process took over stops here."""
        if run.claim is None:
            return None

        def taken_over() -> None:
            if run.task is not None:
                run.task.cancel(TAKEN_OVER)

        return self.leases.keep(run.claim.job, taken_over)

    async def _orphans(self, older_than: float, limit: int) -> list[ReplyJob]:
        """The run jobs of acked room messages whose process died before recording their run, for the sweeper
        (which claims them and takes them up with :meth:`_take_up`)."""
        here = {run.trigger.id for run in self._runs.values()} | {w.message.id for w in self._waiting.values()}
        found = await rooms.unrun_messages(self.pool, RUN_KIND, older_than, ORPHAN_HORIZON, limit)
        return [self._run_job(m.room_id, m.wire()) for m in found if str(m.id) not in here]

    async def _take_up(self, claim: Claim) -> None:
        """Carry out the run of a process that died (reusing the turns it stored)."""
        assert claim.job.reply_to is not None
        found = await rooms.message_with_room(self.pool, UUID(claim.job.reply_to))
        if found is None:
            await self.leases.settle(claim.job, None)
            return
        room, message = found
        later = await rooms.messages_after(self.pool, room.id, message.seq, TRANSCRIPT_LINES * 10)
        if any(m.sender == "user" for m in later):
            await self.leases.settle(claim.job, None)  # a newer message has a run of its own
            return
        logger.warning("room %s: taking up the run of %s (attempt %d)", room.id, message.id, claim.attempt)
        self.trigger(room, message.wire(), claim=claim)

    async def _record(self, run: Run, failure: BaseException | None) -> None:
        """Keep how the run ended, so the same message sent again re-runs a failed run (on any process)."""
        trigger = run.trigger
        job = run.claim.job if run.claim is not None else self._run_job(run.room.id, trigger)
        if failure is None:
            self._previous_at_start.pop(trigger.id, None)
            await self.leases.settle(job, None, held=run.claim is not None)
            return
        self._previous_at_start[trigger.id] = run.previous
        await self.leases.settle(job, replica_failure(failure), held=run.claim is not None)

    async def _planner(self, run: Run) -> TurnPlanner:
        room, settings = run.room, run.room.settings
        asker = room_sensay_user(room.id)
        seats = [_seat(await self.replicas.require(asker, rid)) for rid in room.replica_ids]
        return TurnPlanner(
            mode=room.mode,
            seats=seats,
            trigger=run.trigger.content,
            max_turns=settings.max_turns,
            previous=run.previous,
            moderator_id=settings.moderator_id,
            topic=settings.topic,
            goal=settings.goal,
            consensus=settings.consensus,
            judge_id=settings.judge_id,
        )

    async def _turns(self, run: Run, planner: TurnPlanner) -> str:
        """Carry out the planner's decisions until it finishes or a newer message supersedes the run."""
        asker = room_sensay_user(run.room.id)
        while not run.superseded:
            if self._draining and run.claim is not None:
                raise _HandedOver
            match planner.next():
                case Finished(reason):
                    await self._conclude(run, planner, reason)
                    return reason
                case EnterPhase(phase, index, count):
                    await self._show(run, RoomPhaseFrame, phase=phase.name, title=phase.title, index=index, count=count)
                case AskModerator(moderator_id, _candidates, question):
                    await self._take_turn(
                        run, planner, planner.picked(await self.replies.ask(asker, moderator_id, question))
                    )
                case Speak() as speak:
                    await self._take_turn(run, planner, speak)
                case Vote(questions):
                    answers = [(seat, await self.replies.ask(asker, seat.replica_id, q)) for seat, q in questions]
                    result = planner.counted(answers)
                    ballots = [RoomBallot(voter=b.voter, choice=b.choice, text=b.text) for b in result.ballots]
                    await self._show(
                        run,
                        RoomVoteFrame,
                        ballots=ballots,
                        tally=result.tally,
                        winner=result.winner,
                        tie=result.tie,
                        unanimous=result.unanimous,
                    )
                case Judge(judge, test, question):
                    verdict = planner.judged(await self.replies.ask(asker, judge.replica_id, question))
                    await self._show(
                        run,
                        RoomVerdictFrame,
                        test=test,
                        judge_id=judge.replica_id,
                        met=verdict.met,
                        summary=verdict.summary,
                    )
        return "a new message arrived"

    async def _take_turn(self, run: Run, planner: TurnPlanner, speak: Speak) -> None:
        run.last = await self._speak(run, speak, run.last)
        planner.record(speak.seat, run.last.content)
        self._previous[run.room.id] = speak.seat.replica_id
        run.turns += 1

    async def _show(self, run: Run, frame_type: type[RoomFrame], **fields: Any) -> None:
        frame = frame_type(room_id=str(run.room.id), run_id=run.trigger.id, **fields)
        await self.hub.send_to_channel(room_stream(str(run.room.id)), frame)

    async def _conclude(self, run: Run, planner: TurnPlanner, reason: str) -> None:
        """A run that reached a conclusion (consensus, its goal, a vote) tells every member, joined or not."""
        if reason not in (CONSENSUS, GOAL_REACHED, DECIDED_BY_VOTE):
            return
        if reason == DECIDED_BY_VOTE:
            assert planner.vote is not None
            summary = planner.turns[-1].text if planner.turns[-1].seat.replica_id == planner.vote.winner else ""
            detail: dict[str, Any] = {"vote": planner.vote}
        else:
            verdict = planner.verdicts[-1]
            summary, detail = verdict.summary, {"verdict": verdict}
        detail["summary_by"] = planner.vote.winner if planner.vote is not None else planner.judge.replica_id
        limit = run.room.settings.time_limit_seconds or modes.default_time_limit(planner.budget)
        said = [(t.seat.name, t.text) for t in planner.turns]
        left = run.started + limit - asyncio.get_running_loop().time()
        asker = room_sensay_user(run.room.id)
        summary = await conclusions.sum_up(self.replies.ask, asker, detail["summary_by"], reason, said, left) or summary
        await conclusions.record_conclusion(
            self.pool, run.room, run_id=run.trigger.id, ending=reason, summary=summary, turns=run.turns, **detail
        )

    async def _speak(self, run: Run, speak: Speak, answering: StoredMessage) -> StoredMessage:
        job = await prompts.turn_job(self.pool, self.replicas, run.room, speak, answering, run.trigger.client_id)
        asked_since = run.claim.asked_at if run.taken_up and run.claim is not None else None
        try:
            reply = await self.replies.run(
                job, restart=run.taken_up, fresh=run.fresh, asked_since=asked_since, resumable=run.claim is not None
            )
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
            message=RoomReplies.stopped(error.detail),
            id=run.trigger.client_id,
            retryable=code.retryable,
            stream=stream,
        )
        await self.hub.send_to_channel(stream, frame)


def _seat(replica: Replica) -> Seat:
    profile = " ".join(filter(None, [replica.short_description, replica.purpose, *replica.tags]))
    return Seat(replica.uuid, replica.name, profile)


def _cancelled(exc: asyncio.CancelledError) -> str:
    """Why a run was cancelled (the reason given to ``cancel``)."""
    return str(exc.args[0]) if exc.args else "stopped"


class _Reported(Exception):
    """A turn's reply failed (or waits for the database), and the reply pipeline has already told the room."""


class _HandedOver(Exception):
    """This process is stopping: the run's next turn is left to another process."""
