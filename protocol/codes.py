"""Error codes (carried by ``error`` frames) and WebSocket close codes.

Each member documents itself: ``description`` says when it is used, ``retryable`` (errors) or
``reconnect`` (close codes) whether trying again makes sense. The exported schemas are built from these.
"""

from enum import IntEnum, StrEnum
from typing import Final


class ErrorCode(StrEnum):
    """Machine-readable reason of an ``error`` frame. The connection stays open after an error frame."""

    description: str
    retryable: bool

    def __new__(cls, value: str, description: str, retryable: bool = False) -> "ErrorCode":
        member = str.__new__(cls, value)
        member._value_ = value
        member.description = description
        member.retryable = retryable
        return member

    INVALID_JSON = "invalid_json", "The text frame is not valid JSON, not a JSON object, or is nested too deeply."
    INVALID_FRAME = "invalid_frame", "A field is missing, has the wrong type, violates a length limit or is unknown."
    UNKNOWN_TYPE = "unknown_type", "The frame has no `type` field or an unknown one."
    BINARY_NOT_SUPPORTED = "binary_not_supported", "A binary WebSocket frame was sent; only text frames are accepted."
    ALREADY_AUTHENTICATED = "already_authenticated", "An `auth` frame arrived on an already authenticated connection."
    RATE_LIMITED = (
        "rate_limited",
        "The client sends too fast; the frame was dropped. Retry after a backoff (persistent flooding closes 4009).",
        True,
    )
    NOT_FOUND = "not_found", "The referenced replica, room or stream does not exist (or is not visible to the user)."
    FORBIDDEN = "forbidden", "The user may not perform this action (e.g. not a member of the room)."
    CONFLICT = "conflict", "The request conflicts with the current state (e.g. a reused message id with other content)."
    REPLICA_UNAVAILABLE = (
        "replica_unavailable",
        "Sensay failed or timed out while producing a reply. Retrying the same `chat.send` id is safe.",
        True,
    )
    REPLICA_REJECTED = "replica_rejected", "Sensay refused the request (e.g. content policy, invalid replica state)."
    RESUME_UNAVAILABLE = (
        "resume_unavailable",
        "The requested gap can no longer be replayed; re-fetch the stream's history over REST.",
    )
    INTERNAL_ERROR = (
        "internal_error",
        "Unexpected server failure. Retrying after a backoff is safe (sends are idempotent by id).",
        True,
    )


RETRYABLE: Final[frozenset[ErrorCode]] = frozenset(code for code in ErrorCode if code.retryable)
"""Error codes after which re-sending the same frame (with backoff) makes sense."""


class CloseCode(IntEnum):
    """WebSocket close code the server uses when it ends a connection."""

    description: str
    reconnect: bool

    def __new__(cls, value: int, description: str, reconnect: bool) -> "CloseCode":
        member = int.__new__(cls, value)
        member._value_ = value
        member.description = description
        member.reconnect = reconnect
        return member

    NORMAL = 1000, "Normal closure (usually requested by the client). No automatic reconnect.", False
    GOING_AWAY = 1001, "The server is shutting down or the endpoint is going away. Reconnect with backoff.", True
    MESSAGE_TOO_BIG = (
        1009,
        "An inbound frame exceeded `max_frame_bytes` (see `hello`). Reconnect, but do not resend that frame.",
        True,
    )
    INTERNAL_ERROR = 1011, "Unexpected server failure. Reconnect with backoff and `resume`.", True
    SERVICE_RESTART = 1012, "The server is draining for a restart. Reconnect (to any instance) and `resume`.", True
    PROTOCOL_ERROR = (
        4000,
        "The client violated the protocol in a way that cannot be answered with an error frame.",
        False,
    )
    AUTH_FAILED = (
        4001,
        "The token is missing, invalid, expired or revoked. Do not reconnect with the same token; get a new one.",
        False,
    )
    AUTH_TIMEOUT = (
        4002,
        "No valid authentication within the deadline after connecting. Reconnect and auth promptly.",
        True,
    )
    SESSION_REVOKED = (
        4003,
        "The session ended while connected (logout elsewhere, token expired). Re-authenticate before reconnecting.",
        False,
    )
    SLOW_CONSUMER = (
        4008,
        "The client did not read fast enough and its send queue overflowed. Reconnect and `resume`.",
        True,
    )
    RATE_LIMITED = 4009, "Persistent flooding after `rate_limited` errors. Reconnect after a long backoff.", True
