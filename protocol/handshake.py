"""Opening-handshake helpers: subprotocol selection and the token carried in ``Sec-WebSocket-Protocol``.

A browser cannot set an ``Authorization`` header on a WebSocket, so a client may authenticate in one of
three ways: offer ``access_token.<jwt>`` as a second subprotocol next to ``sensay-hub.v2``, pass
``?access_token=<jwt>``, or send an ``auth`` frame first. A client passing the token as a subprotocol must
also offer ``sensay-hub.v2``: browsers abort the connection when the server selects none of the offered
values, and the server must never echo the token back.
"""

from collections.abc import Iterable
from typing import NamedTuple

from .constants import SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX


class OfferedSubprotocols(NamedTuple):
    """What a client offered in ``Sec-WebSocket-Protocol``."""

    selected: str | None
    """The subprotocol to accept: ``SUBPROTOCOL`` if offered, else ``None`` (never the token value)."""
    token: str | None
    """The JWT from an ``access_token.<jwt>`` value, if any."""


def parse_subprotocols(offered: Iterable[str]) -> OfferedSubprotocols:
    """Pick the subprotocol to accept and extract the token from the offered values (header already split)."""
    selected: str | None = None
    token: str | None = None
    for raw in offered:
        value = raw.strip()
        if value == SUBPROTOCOL:
            selected = SUBPROTOCOL
        elif value.startswith(TOKEN_SUBPROTOCOL_PREFIX) and token is None:
            token = value.removeprefix(TOKEN_SUBPROTOCOL_PREFIX) or None
    return OfferedSubprotocols(selected, token)
