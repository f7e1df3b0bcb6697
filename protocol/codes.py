"""Error codes (of ``error`` frames and REST problem documents) and WebSocket close codes.

Each member documents itself: ``description`` says when it is used, ``retryable`` (errors) or
``reconnect`` (close codes) whether trying again makes sense. The exported schemas are built from these.
"""

from enum import IntEnum, StrEnum
from typing import Final


class ErrorCode(StrEnum):
    """Machine-readable reason of an error, the one vocabulary of both transports.

    On the socket it is the ``code`` of an ``error`` frame (the connection stays open); over REST it is the
    ``code`` of a problem document answered with ``http_status``. One cause has one code on both.
    ``http_status`` is ``None`` for codes that occur only on the socket; ``socket`` is ``False`` for codes that
    occur only over REST.
    """

    description: str
    retryable: bool
    http_status: int | None
    socket: bool

    def __new__(
        cls, value: str, http_status: int | None, socket: bool, description: str, retryable: bool = False
    ) -> "ErrorCode":
        member = str.__new__(cls, value)
        member._value_ = value
        member.description = description
        member.retryable = retryable
        member.http_status = http_status
        member.socket = socket
        return member

    # -- malformed input: each transport has its own framing ------------------------------------------------
    INVALID_JSON = (
        "invalid_json",
        None,
        True,
        "The text frame is not valid JSON, not a JSON object, or is nested too deeply.",
    )
    INVALID_FRAME = (
        "invalid_frame",
        None,
        True,
        "A field is missing, has the wrong type, violates a length limit or is unknown.",
    )
    UNKNOWN_TYPE = "unknown_type", None, True, "The frame has no `type` field or an unknown one."
    BINARY_NOT_SUPPORTED = (
        "binary_not_supported",
        None,
        True,
        "A binary WebSocket frame was sent; only text frames are accepted.",
    )
    MALFORMED_JSON = "malformed_json", 400, False, "The request body is not valid JSON."
    VALIDATION_ERROR = (
        "validation_error",
        422,
        False,
        "A body field, query parameter or action parameter is missing, has the wrong type or violates a limit "
        "(the detail names it).",
    )
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", 415, False, "The body must be sent as `application/json`."
    BODY_TOO_LARGE = "body_too_large", 413, False, "The request body is larger than the API accepts."
    METHOD_NOT_ALLOWED = "method_not_allowed", 405, False, "The route does not answer this HTTP method."
    HTTP_ERROR = "http_error", 400, False, "Another HTTP-level error; the problem's `status` says which."
    # -- authentication -----------------------------------------------------------------------------------
    UNAUTHORIZED = (
        "unauthorized",
        401,
        False,
        "The bearer token is missing, invalid, expired or revoked (the socket closes with 4001 instead).",
    )
    INVALID_CREDENTIALS = "invalid_credentials", 401, False, "Wrong email or password (one answer for both)."
    INVALID_REFRESH_TOKEN = (
        "invalid_refresh_token",
        401,
        False,
        "The refresh token is unknown, used already or expired: log in again.",
    )
    EMAIL_TAKEN = "email_taken", 409, False, "An account with this email already exists."
    SIGNUP_REJECTED = "signup_rejected", 422, False, "The identity provider refused the sign-up (the detail says why)."
    AUTH_UNAVAILABLE = (
        "auth_unavailable",
        503,
        False,
        "The identity provider did not answer; try again later (the socket closes with 1011 instead).",
        True,
    )
    ALREADY_AUTHENTICATED = (
        "already_authenticated",
        None,
        True,
        "An `auth` frame carried a token of another user than the one the socket belongs to.",
    )
    # -- what the request names -----------------------------------------------------------------------------
    NOT_FOUND = (
        "not_found",
        404,
        True,
        "The room, task, stream or route does not exist (or is not visible to the user).",
    )
    REPLICA_NOT_FOUND = "replica_not_found", 404, True, "No replica with this id is visible to the user."
    UNKNOWN_USER = "unknown_user", 422, False, "A user id in the body (a room member) is not a user."
    FORBIDDEN = (
        "forbidden",
        403,
        True,
        "The user may not perform this action (e.g. not a member of the room), or the socket must `room.join` the "
        "room before sending or typing in it.",
    )
    CLIENT_ID_CONFLICT = (
        "client_id_conflict",
        409,
        True,
        "The client id was already used for a message with other content (or to another replica).",
    )
    # -- replicas -------------------------------------------------------------------------------------------
    REPLICA_UNAVAILABLE = (
        "replica_unavailable",
        503,
        True,
        "Sensay failed or timed out while producing a reply. Sending the same client id again is safe.",
        True,
    )
    REPLICA_REJECTED = (
        "replica_rejected",
        502,
        True,
        "Sensay refused the request or answered something unreadable (e.g. invalid replica state). Sending it "
        "again will not help.",
    )
    REPLICA_QUOTA_EXCEEDED = (
        "replica_quota_exceeded",
        429,
        True,
        "Sensay's usage quota for this conversation is spent (Sensay's 429 with a quota error code); not retried.",
    )
    REPLICA_POLICY_REFUSED = (
        "replica_policy_refused",
        422,
        True,
        "Sensay refused to answer this message under its content policy (403, or a policy error code).",
    )
    # -- prototypes and the simulated services -------------------------------------------------------------
    PROTOTYPE_NOT_FOUND = "prototype_not_found", 404, False, "No prototype with this id."
    UNKNOWN_ACTION = "unknown_action", 422, False, "The prototype has no action of this name."
    REPLICA_REQUIRED = "replica_required", 422, False, "Give a `replica_id`: no default replica is configured."
    INSUFFICIENT_FUNDS = "insufficient_funds", 409, False, "The $SNSY balance (or stake) is too small for this."
    PATH_LOCKED = "path_locked", 409, False, "The replica already follows another evolution path."
    MAX_LEVEL = "max_level", 409, False, "The replica is at the top level of its evolution path."
    ALREADY_BONDED = "already_bonded", 409, False, "These replicas already form an active bond."
    BOND_NOT_FOUND = "bond_not_found", 404, False, "No bond with this id belongs to the user."
    BOND_ENDED = "bond_ended", 409, False, "The bond has ended."
    CALL_NOT_FOUND = "call_not_found", 404, False, "No call with this id belongs to the user."
    CALL_ENDED = "call_ended", 409, False, "The call has ended."
    WRONG_PIN = (
        "wrong_pin",
        403,
        False,
        "The caller's PIN is wrong (or none is set); the detail says how many attempts are left (none: the call "
        "has ended).",
    )
    PIN_REQUIRED = (
        "pin_required",
        409,
        False,
        "The call waits for the caller's PIN (`enter_pin`) before the replica talks.",
    )
    WRONG_CODE = (
        "wrong_code",
        403,
        False,
        "The phone number's verification code is wrong, expired or used up; the detail says how many attempts are "
        "left (none: send a new code with `register_number`).",
    )
    NUMBER_TAKEN = "number_taken", 409, False, "Another user has verified this phone number."
    SPEECH_UNAVAILABLE = (
        "speech_unavailable",
        501,
        False,
        "Audio cannot become text on this server: install the `[voice]` extra (pocketsphinx).",
    )
    SPEECH_NOT_RECOGNIZED = (
        "speech_not_recognized",
        422,
        False,
        "The audio is not 16-bit mono PCM WAV at 16 kHz (at most 30 s), or no words were recognised in it.",
    )
    ALREADY_UNLOCKED = (
        "already_unlocked",
        409,
        False,
        "The memory is unlocked for the user already (by tier, by an unlock, or as its author).",
    )
    LISTING_CLOSED = "listing_closed", 409, False, "The marketplace listing was sold or withdrawn already."
    TASK_CONFLICT = (
        "task_conflict",
        409,
        True,
        "The task a command named changed while the command ran (e.g. another command deleted it): look again.",
    )
    ILLEGAL_TRANSITION = "illegal_transition", 409, False, "A simulated call cannot move to this status from its own."
    TRANSFER_NOT_FOUND = "transfer_not_found", 404, False, "No simulated transfer with this hash belongs to the user."
    TOOL_NOT_FOUND = "tool_not_found", 404, False, "No mock MCP tool of this name."
    TOOL_FAILED = "tool_failed", 422, False, "The mock MCP tool could not process its input (the detail says why)."
    # -- the service itself ---------------------------------------------------------------------------------
    RATE_LIMITED = (
        "rate_limited",
        429,
        True,
        "Too many requests or frames: the request or frame was refused (REST sends `Retry-After`). Retry after a "
        "backoff; on the socket, persistent flooding closes 4009.",
        True,
    )
    RESUME_UNAVAILABLE = (
        "resume_unavailable",
        None,
        True,
        "The requested gap can no longer be replayed; re-fetch the stream's history over REST.",
    )
    NOT_READY = (
        "not_ready",
        503,
        True,
        "The database does not answer or is not migrated yet (`/readyz`); nothing was stored. Retry after a backoff "
        "(REST says how long in `Retry-After`).",
        True,
    )
    REPLY_DELAYED = (
        "reply_delayed",
        503,
        True,
        "The message is stored and its reply is held up by an outage of the database; the reply still comes by "
        "itself once the outage ends, nothing needs re-sending. On the socket a non-final `notice` frame (not an "
        "`error`); over REST a 503 (sending the same client id again later answers with the reply).",
        True,
    )
    INTERNAL_ERROR = (
        "internal_error",
        500,
        True,
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
    INVALID_DATA = (
        1007,
        "A text frame was not valid UTF-8 (closed by the WebSocket layer). Reconnect, but do not resend that frame.",
        True,
    )
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
    RATE_LIMITED = (
        4009,
        "Persistent flooding: too many frames dropped with `rate_limited` (see Rate limits). "
        "Reconnect after a long backoff.",
        True,
    )
    TOO_MANY_CONNECTIONS = (
        4010,
        "The user (or the client address) has as many sockets open as the server allows. Close another tab's "
        "socket, or reconnect after a long backoff.",
        True,
    )
    DISCONNECTED = (
        4011,
        "An operator disconnected the user through the server API. Do not reconnect automatically.",
        False,
    )
