"""Frames sent by the server to the client.

Optional fields are left out of the wire when they hold their default (``null``/``false``): clients must
treat a missing field as its default. Clients should ignore fields and frame types they do not know.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal, TypeAlias, get_args

import msgspec

from .codes import ErrorCode

ChangeTable = Literal["tasks", "prototype_interactions"]


class _ServerFrame(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    pass


class StoredMessage(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A persisted chat or room message: the same object in socket frames, resume replays and REST answers."""

    id: Annotated[str, msgspec.Meta(description="Message UUID.")]
    stream: Annotated[str, msgspec.Meta(description="`chat:<replica_id>` or `room:<room_uuid>`.")]
    seq: Annotated[int, msgspec.Meta(description="Position in the stream: 1, 2, 3... with no gaps.")]
    sender: Literal["user", "replica"]
    content: str
    created_at: Annotated[str, msgspec.Meta(description="ISO 8601 timestamp with timezone.")]
    user_id: Annotated[str | None, msgspec.Meta(description="Author of a user message.")] = None
    replica_id: Annotated[
        str | None,
        msgspec.Meta(
            description="Author of a replica message; in a chat stream also set on the user's messages "
            "(the replica addressed)."
        ),
    ] = None
    room_id: Annotated[str | None, msgspec.Meta(description="The room, for room messages.")] = None
    client_id: Annotated[
        str | None, msgspec.Meta(description="The `id` of the `chat.send`/`room.send` frame that created the message.")
    ] = None
    reply_to: Annotated[
        str | None, msgspec.Meta(description="For replica messages: the id of the user message answered.")
    ] = None


class HelloFrame(_ServerFrame, tag="hello", kw_only=True):
    """Sent after each successful authentication: when the socket authenticates, and again in answer to each later
    `auth` frame that renews the token (same user, same `connection_id`; `session_id` is the new token's)."""

    protocol: Annotated[int, msgspec.Meta(description="Protocol version (`PROTOCOL_VERSION`).")]
    connection_id: str
    user_id: str
    session_id: Annotated[str | None, msgspec.Meta(description="The auth session the token belongs to, if any.")] = None
    heartbeat_interval: Annotated[
        float,
        msgspec.Meta(
            description="Heartbeat period in seconds: the server sends WebSocket (RFC 6455) pings this often and "
            "drops a peer whose pong does not come back within the same period. Clients may send `ping` frames at "
            "this pace to detect a dead connection from their side."
        ),
    ]
    max_frame_bytes: Annotated[
        int,
        msgspec.Meta(
            description="Largest inbound frame the server accepts; bigger ones close the connection with 1009."
        ),
    ]
    id: Annotated[
        str | None, msgspec.Meta(description="The `auth` frame's id, when it answers one that had an id.")
    ] = None


class PongFrame(_ServerFrame, tag="pong", kw_only=True):
    """Answer to a `ping`, echoing its id."""

    id: str | None = None


class AckFrame(_ServerFrame, tag="ack", kw_only=True):
    """A frame was carried out: a `chat.send`/`room.send` stored as `message_id` at `seq` in `stream`, or a
    `room.leave`/`room.stop` done (then only `id` is set)."""

    id: Annotated[
        str | None, msgspec.Meta(description="The frame's id: for sends, the client message id (always set).")
    ] = None
    stream: Annotated[str | None, msgspec.Meta(description="Sends: the stream the message was stored in.")] = None
    message_id: Annotated[str | None, msgspec.Meta(description="Sends: the stored message's id.")] = None
    seq: Annotated[int | None, msgspec.Meta(description="Sends: the message's position in its stream.")] = None
    duplicate: Annotated[
        bool, msgspec.Meta(description="True when the id had already been stored: nothing new was created.")
    ] = False


class MessageFrame(_ServerFrame, tag="message", kw_only=True):
    """A message stored in a stream the client follows (including the client's own, and replayed ones).

    The message carries its `stream` and `seq`."""

    message: StoredMessage


class ReplyDeltaFrame(_ServerFrame, tag="reply.delta", kw_only=True):
    """A chunk of a replica reply being generated; the full reply later arrives as a `message`."""

    stream: str
    reply_to: Annotated[str, msgspec.Meta(description="Id of the user message being answered.")]
    replica_id: str
    index: Annotated[int, msgspec.Meta(description="0-based chunk counter, per reply.")]
    text: str


class ReplyStartedFrame(_ServerFrame, tag="reply.started", kw_only=True):
    """A replica started working on a reply (show "typing"); `reply.delta` frames and then a `message` follow.

    With `restart`, the reply starts again from scratch (its process died, or a failed reply is re-run): drop
    the `reply.delta` text received so far for `reply_to`.
    """

    stream: str
    reply_to: Annotated[str, msgspec.Meta(description="Id of the message being answered.")]
    replica_id: str
    restart: Annotated[
        bool, msgspec.Meta(description="Drop the deltas received so far for `reply_to`: the reply starts over.")
    ] = False


class NoticeFrame(_ServerFrame, tag="notice", kw_only=True):
    """Something is held up, and nothing needs doing about it: not an error, and not final. With `reply_delayed`
    the reply to `reply_to` waits for an outage (the database) to end; its `message` follows once it ends (or, if
    the process holding it died meanwhile, another process's `reply.started` with `restart`, `reply.delta` and
    `message`)."""

    code: ErrorCode
    message: Annotated[str, msgspec.Meta(description="Human-readable detail; not meant to be parsed.")]
    id: Annotated[str | None, msgspec.Meta(description="The id of the client frame that asked for the reply.")] = None
    stream: str | None = None
    reply_to: Annotated[str | None, msgspec.Meta(description="Id of the message being answered.")] = None


class ResumedFrame(_ServerFrame, tag="resumed", kw_only=True):
    """Replay of a stream after `resume` is complete: `replayed` messages were sent, up to `latest_seq`."""

    stream: str
    replayed: int
    latest_seq: int
    id: Annotated[str | None, msgspec.Meta(description="The `resume` frame's id, when it had one.")] = None


class ErrorFrame(_ServerFrame, tag="error", kw_only=True):
    """A frame could not be processed. The connection stays open."""

    code: ErrorCode
    message: Annotated[str, msgspec.Meta(description="Human-readable detail; not meant to be parsed.")]
    id: Annotated[str | None, msgspec.Meta(description="The offending frame's id, when it had one.")] = None
    retryable: Annotated[bool, msgspec.Meta(description="Whether re-sending the same frame later makes sense.")] = False
    stream: str | None = None
    retry_after: Annotated[
        float | None, msgspec.Meta(description="Seconds to wait before re-sending, when the cause said so.")
    ] = None


class ChangeFrame(_ServerFrame, tag="change", kw_only=True):
    """A row of a watched table changed (database change feed)."""

    table: ChangeTable
    op: Literal["INSERT", "UPDATE", "DELETE"]
    record: Annotated[dict[str, Any] | None, msgspec.Meta(description="The new row (INSERT/UPDATE).")] = None
    old_record: Annotated[
        dict[str, Any] | None,
        msgspec.Meta(description="The previous row or its primary key (UPDATE/DELETE), when known."),
    ] = None
    commit_timestamp: str | None = None


class ResyncFrame(_ServerFrame, tag="resync", kw_only=True):
    """Frames may have been missed. The change feed had a gap: re-fetch `tables` over REST. The broker between
    processes had one: send `resume` for each of `streams` you follow (and for every chat stream you follow when
    `all_chats`), from the seq `resume_from` names for it, else from the last seq you have; presence and typing in
    those rooms may be stale too (join the room again for a `room.presence`).
    """

    reason: Annotated[str, msgspec.Meta(description="Human-readable cause; not meant to be parsed.")]
    tables: Annotated[list[str], msgspec.Meta(description="Tables whose changes may have been missed.")]
    streams: Annotated[
        list[str], msgspec.Meta(description="Streams (`room:<uuid>`) whose live frames may have been missed.")
    ] = []
    all_chats: Annotated[
        bool, msgspec.Meta(description="Frames of all your chat streams (and replies) may have been missed.")
    ] = False
    resume_from: Annotated[
        dict[str, int],
        msgspec.Meta(
            description="Per stream, the seq to `resume` it from: the last seq this socket got of it before the gap "
            "began. Messages that reached the socket during the gap (it may hold seq N+1 without N) do not count, so "
            "resuming from here leaves no hole. A stream of the gap not named here was sent nothing on this socket "
            "since it connected: resume it from the last seq you have."
        ),
    ] = {}


class RoomPresenceFrame(_ServerFrame, tag="room.presence", kw_only=True):
    """Full snapshot of the users present in a room (sent after joining)."""

    room_id: str
    user_ids: list[str]
    id: Annotated[str | None, msgspec.Meta(description="The `room.join` frame's id, when it had one.")] = None


class RoomJoinedFrame(_ServerFrame, tag="room.joined", kw_only=True):
    """A user joined the room."""

    room_id: str
    user_id: str


class RoomLeftFrame(_ServerFrame, tag="room.left", kw_only=True):
    """A user left the room."""

    room_id: str
    user_id: str


class RoomTypingStatusFrame(_ServerFrame, tag="room.typing", kw_only=True):
    """A user in the room started or stopped typing."""

    room_id: str
    user_id: str
    typing: bool


_RUN_ID = msgspec.Meta(description="The run: the id of the user message that started it.")


class RoomTurnsFrame(_ServerFrame, tag="room.turns", kw_only=True):
    """State of the replicas' turn-taking in a room: a run started (`running`) or ended (`idle`, `stopped`)."""

    room_id: str
    state: Literal["running", "stopped", "idle"]
    reason: Annotated[
        str | None,
        msgspec.Meta(
            description="Why the run ended: `done`, `turn limit`, `consensus`, `goal reached`, `decided by vote`, "
            "`time limit`, `stopped by a member`, `a new message arrived`, `a replica could not answer`."
        ),
    ] = None
    turns: Annotated[int, msgspec.Meta(description="Replica turns taken in the current run.")]
    run_id: Annotated[str | None, _RUN_ID] = None
    roles: Annotated[
        dict[str, list[str]] | None,
        msgspec.Meta(
            description="On `running`, in the structured modes (`six_thinking_hats`, `swot`): each replica's own "
            "phases, by replica id: the lead's (`blue`, `strategy`) and the hats or quadrants dealt to the others."
        ),
    ] = None


class RoomPhaseFrame(_ServerFrame, tag="room.phase", kw_only=True):
    """A structured run entered its next phase (a thinking hat, a SWOT quadrant, the vote, ...)."""

    room_id: str
    run_id: Annotated[str, _RUN_ID]
    phase: Annotated[str, msgspec.Meta(description="The phase's name, e.g. `white`, `strengths`, `vote`.")]
    title: Annotated[str, msgspec.Meta(description="The phase as people read it, e.g. `White hat: facts`.")]
    index: Annotated[int, msgspec.Meta(description="1-based position of the phase in the run.")]
    count: Annotated[int, msgspec.Meta(description="Phases the run goes through.")]


class RoomBallot(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One replica's vote."""

    voter: Annotated[str, msgspec.Meta(description="The voting replica.")]
    choice: Annotated[
        str | None, msgspec.Meta(description="The replica whose proposal it chose; absent: no valid choice.")
    ] = None
    text: Annotated[str, msgspec.Meta(description="What the voter answered (shortened).")]


class RoomVoteFrame(_ServerFrame, tag="room.vote", kw_only=True):
    """The replicas of a democratic room voted on the run's proposals: every ballot and the count."""

    room_id: str
    run_id: Annotated[str, _RUN_ID]
    ballots: list[RoomBallot]
    tally: Annotated[dict[str, int], msgspec.Meta(description="Votes per proposing replica.")]
    winner: Annotated[str, msgspec.Meta(description="The replica whose proposal won (a tie goes to the earliest).")]
    tie: bool = False
    unanimous: bool = False


class RoomVerdictFrame(_ServerFrame, tag="room.verdict", kw_only=True):
    """The judge decided whether the speakers agree (`consensus`) or the room's goal is met (`goal`).

    When `met`, the run ends (its `room.turns` says `consensus` or `goal reached`) and every member is also told
    through a `chatroom` prototype record."""

    room_id: str
    run_id: Annotated[str, _RUN_ID]
    test: Literal["consensus", "goal"]
    judge_id: Annotated[str, msgspec.Meta(description="The judging replica.")]
    met: bool = False
    summary: Annotated[str, msgspec.Meta(description="The judge's words: the shared position, or what is missing.")]


class RoomModeFrame(_ServerFrame, tag="room.mode", kw_only=True):
    """A member changed the room's mode and settings (`PATCH /api/rooms/{id}`): runs from the next one on use them;
    a run under way keeps the mode it began with."""

    room_id: str
    mode: Annotated[str, msgspec.Meta(description="The room's new mode, e.g. `swot`.")]
    settings: Annotated[
        dict[str, Any], msgspec.Meta(description="The room's new settings, as `GET /api/rooms/{id}` shows them.")
    ]
    changed_by: Annotated[str, msgspec.Meta(description="The user who changed it.")]


class PrototypeEventFrame(_ServerFrame, tag="prototype.event", kw_only=True):
    """Progress of a running prototype (e.g. a voice transcript line, an MCP step)."""

    prototype: str
    event: str
    data: dict[str, Any]


class NotificationFrame(_ServerFrame, tag="notification", kw_only=True):
    """A message from the service's operators (the server API), to one user or to a room's members."""

    event: Annotated[str, msgspec.Meta(description="What the notification is about, named by the operator.")]
    data: Annotated[dict[str, Any], msgspec.Meta(description="The operator's payload, as given.")]
    room_id: Annotated[str | None, msgspec.Meta(description="The room, when sent to a room's members.")] = None


ServerFrame: TypeAlias = (
    HelloFrame
    | PongFrame
    | AckFrame
    | MessageFrame
    | ReplyDeltaFrame
    | ReplyStartedFrame
    | NoticeFrame
    | ResumedFrame
    | ErrorFrame
    | ChangeFrame
    | ResyncFrame
    | RoomPresenceFrame
    | RoomJoinedFrame
    | RoomLeftFrame
    | RoomTypingStatusFrame
    | RoomTurnsFrame
    | RoomPhaseFrame
    | RoomVoteFrame
    | RoomVerdictFrame
    | RoomModeFrame
    | PrototypeEventFrame
    | NotificationFrame
)
"""Any frame the server may send."""

SERVER_FRAME_TYPES: Final[Mapping[str, type[msgspec.Struct]]] = MappingProxyType(
    {str(cls.__struct_config__.tag): cls for cls in get_args(ServerFrame)}
)
"""Server frame classes by their ``type`` tag."""
