"""Finishing a reply is one round trip: the reply, the context it carried and its row, settled in one statement;
its publication is recorded afterwards, and a reply stored but never published is taken up once its lease ran
out (its process died in between)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from server.replies import ReplyJob, UserAudience, leases
from server.replies.leases import ReplyState
from server.sensay.local import ADA_LOVELACE_UUID
from server.store import conversations, users
from server.store.records import Message

from ..utils import connect
from .test_durable import frames_until_reply, reply_row


async def held_reply(pool: asyncpg.Pool, holder: str, lease: float) -> tuple[ReplyJob, Message]:
    """A user message whose reply row ``holder`` claimed."""
    user = await users.create_user(pool, f"{uuid.uuid4().hex}@example.com", None)
    message, _ = await conversations.append_user_message(pool, user.id, ADA_LOVELACE_UUID, "hello", None)
    job = ReplyJob(
        kind="chat",
        asker=str(user.id),
        replica_id=ADA_LOVELACE_UUID,
        prompt="hello",
        audience=UserAudience(user.id),
        reply_to=str(message.id),
        briefing="f" * 32,
    )
    await leases.submit(pool, job, lease)
    assert await leases.claim(pool, "chat", str(message.id), holder, lease) is not None
    return job, message


async def test_the_reply_its_briefing_and_its_row_settle_in_one_statement(pool: asyncpg.Pool) -> None:
    """One call stores the reply, marks the briefing seen and settles the held row: one transaction (same xmin);
    the row is done, unpublished, until the publication is recorded."""
    job, message = await held_reply(pool, "p", 10)
    stored = await conversations.append_reply(
        pool,
        message.user_id,
        ADA_LOVELACE_UUID,
        message.id,
        "an answer",
        seen=conversations.Seen(job.asker, "f" * 32),
        held=conversations.Held("chat", "p", 10),
    )
    assert stored.settled and stored.message.message == "an answer" and stored.message.reply_to == message.id
    xmins = await pool.fetchrow(
        """
        SELECT (SELECT xmin::text FROM conversations WHERE reply_to = $1) AS reply,
               (SELECT xmin::text FROM replica_briefings WHERE asker = $2 AND replica_id = $3) AS briefing,
               (SELECT xmin::text FROM replies WHERE kind = 'chat' AND reply_to = $1::text) AS row
        """,
        message.id,
        job.asker,
        ADA_LOVELACE_UUID,
    )
    assert xmins["reply"] == xmins["briefing"] == xmins["row"]
    row = await pool.fetchrow("SELECT state, holder, published_at FROM replies WHERE reply_to = $1", str(message.id))
    assert (row["state"], row["holder"], row["published_at"]) == ("done", "p", None)
    await leases.finish(pool, job, "p")
    row = await pool.fetchrow("SELECT state, holder, published_at FROM replies WHERE reply_to = $1", str(message.id))
    assert (row["state"], row["holder"]) == ("done", None) and row["published_at"] is not None


async def test_a_lost_lease_is_not_settled_and_a_second_reply_is_not_stored(pool: asyncpg.Pool) -> None:
    """Another process holds the row: the reply is stored but the row is not settled; a second reply to the same
    message stores nothing and returns the first."""
    job, message = await held_reply(pool, "other", 10)
    held = conversations.Held("chat", "p", 10)
    first = await conversations.append_reply(pool, message.user_id, ADA_LOVELACE_UUID, message.id, "one", held=held)
    assert not first.settled
    outcome = await leases.outcome(pool, "chat", str(message.id))
    assert outcome is not None and outcome.state is ReplyState.RUNNING
    second = await conversations.append_reply(pool, message.user_id, ADA_LOVELACE_UUID, message.id, "two", held=held)
    assert (second.message.id, second.message.message, second.settled) == (first.message.id, "one", False)


async def test_a_reply_stored_but_never_published_is_swept_once_its_lease_ran_out(pool: asyncpg.Pool) -> None:
    """The holder died between storing (row settled done) and recording the publication: a sweeper takes the row up
    (to publish the stored reply) once its lease ran out, and a published reply is never taken up."""
    job, message = await held_reply(pool, "dead", 10)
    published, other = await held_reply(pool, "alive", 10)
    for stored, holder in ((message, "dead"), (other, "alive")):
        held = conversations.Held("chat", holder, 0.01)
        await conversations.append_reply(pool, stored.user_id, ADA_LOVELACE_UUID, stored.id, "kept", held=held)
    await leases.finish(pool, published, "alive")
    await asyncio.sleep(0.05)
    swept = await leases.claim_expired(pool, ["chat"], "sweeper", 10, 10)
    assert [(claim.job.reply_to, claim.attempt) for claim in swept] == [(job.reply_to, 2)]


async def test_a_chat_reply_is_taken_stored_and_published_in_three_statements(
    server: str, alice: dict, pool: asyncpg.Pool
) -> None:
    """Through the hub, the reply's row is written by three transactions: taken (recorded, claimed and noted as
    being asked, in one), settled by the one that stores the reply, and published; it ends done and published."""
    await pool.execute(
        """
        CREATE TABLE written (what text, reply_to text, state text, tx bigint);
        CREATE FUNCTION note_write() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO written VALUES (TG_TABLE_NAME, NEW.reply_to::text, to_jsonb(NEW) ->> 'state', txid_current());
            RETURN NEW;
        END $$;
        CREATE TRIGGER note_row AFTER INSERT ON replies FOR EACH ROW EXECUTE FUNCTION note_write();
        -- every write but a lease's renewal (a heartbeat)
        CREATE TRIGGER note_change AFTER UPDATE ON replies FOR EACH ROW
            WHEN ((OLD.state, OLD.attempts, OLD.asked_at, OLD.published_at)
                  IS DISTINCT FROM (NEW.state, NEW.attempts, NEW.asked_at, NEW.published_at))
            EXECUTE FUNCTION note_write();
        CREATE TRIGGER note_reply AFTER INSERT ON conversations FOR EACH ROW
            WHEN (NEW.sender = 'replica') EXECUTE FUNCTION note_write();
        """
    )
    frame = {"type": "chat.send", "id": "one-trip", "replica_id": ADA_LOVELACE_UUID, "content": "tell me of engines"}
    async with connect(server, alice["access_token"]) as tab:
        await tab.send(frame)
        frames = await frames_until_reply(tab)
    reply_to = frames[-1]["message"]["reply_to"]
    row = await reply_row(pool, reply_to)
    async with asyncio.timeout(5):
        while row["published_at"] is None:  # recorded a moment after the reply is shown
            await asyncio.sleep(0.05)
            row = await reply_row(pool, reply_to)
    assert (row["state"], row["holder"], row["attempts"]) == ("done", None, 1) and row["asked_at"] is not None
    writes = await pool.fetch("SELECT what, state, tx FROM written WHERE reply_to = $1 ORDER BY tx, what", reply_to)
    assert [(w["what"], w["state"]) for w in writes] == [
        ("replies", "running"),
        ("conversations", None),
        ("replies", "done"),
        ("replies", "done"),
    ]
    assert writes[1]["tx"] == writes[2]["tx"] != writes[3]["tx"]
