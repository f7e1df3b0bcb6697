"""Protocol-wide constants and limits shared by server and clients."""

from typing import Final

PROTOCOL_VERSION: Final = 2
"""Bumped on any incompatible change to the frames below."""

SUBPROTOCOL: Final = "sensay-hub.v2"
"""The ``Sec-WebSocket-Protocol`` value the server selects (and echoes) on the handshake."""

TOKEN_SUBPROTOCOL_PREFIX: Final = "access_token."
"""Prefix of the optional second ``Sec-WebSocket-Protocol`` value carrying the JWT (``access_token.<jwt>``)."""

TOKEN_QUERY_PARAM: Final = "access_token"
"""Query parameter that may carry the JWT (``/ws?access_token=<jwt>``)."""

WS_PATH: Final = "/ws"
"""Path of the WebSocket endpoint."""

MAX_ID_LENGTH: Final = 128
"""Maximum length (characters) of a client frame ``id``, a ``replica_id`` or a resume stream's replica part."""

MAX_CONTENT_LENGTH: Final = 100_000
"""Maximum length (characters) of a chat or room message ``content``."""

MAX_TOKEN_LENGTH: Final = 16_384
"""Maximum length (characters) of a JWT sent in an ``auth`` frame."""

MAX_RESUME_STREAMS: Final = 32
"""Maximum number of streams in one ``resume`` frame: replaying costs a query per stream, so a client with more
streams sends several frames (each counted by the rate limits)."""

FRAME_RATE: Final = 20
"""Frames a second a socket may send; more are dropped with ``rate_limited``."""

FRAME_BURST: Final = 60
"""Frames a socket may send at once before :data:`FRAME_RATE` applies."""

FLOOD_LIMIT: Final = 100
"""Dropped frames a socket may accumulate before it is closed with 4009."""

FLOOD_FORGIVEN_PER_SECOND: Final = 10
"""How fast the count of dropped frames falls again: bursts separated by quiet never reach :data:`FLOOD_LIMIT`."""
