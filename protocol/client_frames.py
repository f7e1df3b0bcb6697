"""Frames sent by the client to the server.

Every frame may carry an ``id`` (1..128 chars) chosen by the client; the server echoes it in the ``ack``,
``pong`` or ``error`` the frame causes. ``chat.send`` and ``room.send`` require it: it is the client
message id and makes re-sending after a reconnect idempotent.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Final, TypeAlias, get_args

import msgspec

from .constants import MAX_CONTENT_LENGTH, MAX_ID_LENGTH, MAX_RESUME_STREAMS, MAX_TOKEN_LENGTH
from .streams import MAX_STREAM_NAME_LENGTH, ROOM_ID_PATTERN, STREAM_NAME_PATTERN

FrameId = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_ID_LENGTH,
        description="Client-chosen frame id, echoed in the resulting ack/pong/error.",
    ),
]
ClientMessageId = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_ID_LENGTH,
        description="Client message id: re-sending the same id is idempotent (answered by an ack with duplicate).",
    ),
]
ReplicaId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
RoomId = Annotated[str, msgspec.Meta(pattern=ROOM_ID_PATTERN, description="Room UUID (lowercase, hyphenated).")]
Content = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONTENT_LENGTH)]
StreamName = Annotated[
    str,
    msgspec.Meta(
        pattern=STREAM_NAME_PATTERN,
        max_length=MAX_STREAM_NAME_LENGTH,
        description="`chat:<replica_id>` or `room:<room_uuid>`.",
    ),
]
Seq = Annotated[int, msgspec.Meta(ge=0)]


class _ClientFrame(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, kw_only=True):
    id: FrameId | None = None


class AuthFrame(_ClientFrame, tag="auth", kw_only=True):
    """Authenticate with a JWT (alternative to the `access_token` query parameter or subprotocol)."""

    token: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TOKEN_LENGTH)]


class PingFrame(_ClientFrame, tag="ping", kw_only=True):
    """Application-level ping; answered by `pong` with the same id."""


class ChatSendFrame(_ClientFrame, tag="chat.send", kw_only=True):
    """Send a message to a replica in the user's private chat (stream `chat:<replica_id>`)."""

    id: ClientMessageId
    replica_id: ReplicaId
    content: Content


class ResumeFrame(_ClientFrame, tag="resume", kw_only=True):
    """Replay what was missed: for each stream, the last seq the client has seen (0 = nothing)."""

    streams: Annotated[dict[StreamName, Seq], msgspec.Meta(max_length=MAX_RESUME_STREAMS)]


class RoomJoinFrame(_ClientFrame, tag="room.join", kw_only=True):
    """Subscribe to a room's stream and presence."""

    room_id: RoomId


class RoomLeaveFrame(_ClientFrame, tag="room.leave", kw_only=True):
    """Unsubscribe from a room."""

    room_id: RoomId


class RoomSendFrame(_ClientFrame, tag="room.send", kw_only=True):
    """Post a message to a joined room."""

    id: ClientMessageId
    room_id: RoomId
    content: Content


class RoomTypingFrame(_ClientFrame, tag="room.typing", kw_only=True):
    """Tell the room whether the user is typing."""

    room_id: RoomId
    typing: bool


class RoomStopFrame(_ClientFrame, tag="room.stop", kw_only=True):
    """Stop the replicas' running turns in a room."""

    room_id: RoomId


ClientFrame: TypeAlias = (
    AuthFrame
    | PingFrame
    | ChatSendFrame
    | ResumeFrame
    | RoomJoinFrame
    | RoomLeaveFrame
    | RoomSendFrame
    | RoomTypingFrame
    | RoomStopFrame
)
"""Any frame a client may send."""

CLIENT_FRAME_TYPES: Final[Mapping[str, type[msgspec.Struct]]] = MappingProxyType(
    {str(cls.__struct_config__.tag): cls for cls in get_args(ClientFrame)}
)
"""Client frame classes by their ``type`` tag."""
