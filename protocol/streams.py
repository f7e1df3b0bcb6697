"""Stream names: ``chat:<replica_id>`` (a user's private chat with a replica) and ``room:<room_uuid>``.

Every stream has its own monotonically increasing ``seq``; clients remember the last seq per stream and
send them in a ``resume`` frame after reconnecting.
"""

import re
from typing import Final, Literal

from .constants import MAX_ID_LENGTH

StreamKind = Literal["chat", "room"]

# `(?![\s\S])` anchors at the very end in both Python and ECMA-262 regex (used by JSON Schema consumers);
# Python's `$` would also match before a trailing newline.
_END: Final = r"(?![\s\S])"
_UUID: Final = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

ROOM_ID_PATTERN: Final = f"^{_UUID}{_END}"
"""A room id is a canonical (lowercase, hyphenated) UUID, so each room has exactly one stream name."""

STREAM_NAME_PATTERN: Final = rf"^(?:chat:.{{1,{MAX_ID_LENGTH}}}|room:{_UUID}){_END}"
"""Pattern every stream name matches."""

MAX_STREAM_NAME_LENGTH: Final = len("chat:") + MAX_ID_LENGTH

_STREAM_RE: Final = re.compile(STREAM_NAME_PATTERN)


def chat_stream(replica_id: str) -> str:
    """Name of the user's chat stream with ``replica_id``."""
    return f"chat:{replica_id}"


def room_stream(room_id: str) -> str:
    """Name of the stream of room ``room_id``."""
    return f"room:{room_id}"


def parse_stream(name: str) -> tuple[StreamKind, str]:
    """Split a stream name into its kind and id; raise ``ValueError`` if it is not a valid stream name."""
    if not _STREAM_RE.match(name):
        raise ValueError(f"invalid stream name: {name!r}")
    kind, _, ident = name.partition(":")
    return ("chat" if kind == "chat" else "room"), ident
