"""What a reply is, as plain data: it can be queued, logged, or stored as a row and taken over by another process."""

from __future__ import annotations

from uuid import UUID

import msgspec

from protocol import StoredMessage


class UserAudience(msgspec.Struct, tag="user", frozen=True):
    """Every socket of one user (on every process)."""

    user_id: UUID


class RoomAudience(msgspec.Struct, tag="room", frozen=True):
    """Every socket joined to one room (on every process)."""

    room_id: UUID


Audience = UserAudience | RoomAudience


class ReplyJob(msgspec.Struct, frozen=True, kw_only=True):
    """One reply to produce: who asks Sensay, which replica, what, where it shows and how it is kept."""

    kind: str
    """Which registered :class:`~server.replies.storages.ReplyStorage` keeps the reply (``chat``, ``room``, ...)."""
    asker: str
    """The Sensay user the question is asked as (``X-USER-ID``): one of our users, or a room."""
    replica_id: str
    prompt: str
    audience: Audience | None
    """Who sees the deltas, the reply and a failure; ``None`` when only the caller awaits the result."""
    stream: str | None = None
    """The stream the reply belongs to (``chat:<replica>``, ``room:<uuid>``), for delta and error frames."""
    reply_to: str | None = None
    """The id of what is answered (a stored message, a call): with ``kind`` it names the reply."""
    client_id: str | None = None
    """The id of the client frame that asked, carried by the error frame when the reply fails."""
    skip_history: bool = False
    """Ask out of Sensay's chat history (``skip_chat_history``): the prompt and answer are not kept there."""
    briefing: str | None = None
    """The fingerprint of the context preamble the prompt carries: the replica has seen it once the reply is kept
    (never set with ``skip_history``: such a prompt is not kept in the conversation)."""

    @property
    def key(self) -> tuple[str, str | None]:
        """Jobs with the same key produce the same reply: at most one runs at a time."""
        return (self.kind, self.reply_to)


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    """A finished reply: its text, and the stored message when it is kept as one."""

    content: str
    message: StoredMessage | None = None
