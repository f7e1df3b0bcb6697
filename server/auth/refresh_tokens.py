"""Refresh tokens of the local backend: token number N of a session, signed so that only we can make one.

``base64url(version ‖ session id ‖ N ‖ HMAC)``: like GoTrue's second refresh-token format, nothing secret is
stored; the session row keeps only the newest N (see :func:`server.store.sessions.use_refresh_token`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from uuid import UUID

from .keys import SigningKeys

_VERSION = b"\x01"
_MAC_BYTES = 16
_LENGTH = 1 + 16 + 8 + _MAC_BYTES


def encode(keys: SigningKeys, session_id: UUID, counter: int) -> str:
    body = _VERSION + session_id.bytes + counter.to_bytes(8, "big")
    return base64.urlsafe_b64encode(body + keys.refresh_mac(body)[:_MAC_BYTES]).rstrip(b"=").decode()


def decode(keys: SigningKeys, token: str) -> tuple[UUID, int] | None:
    """The session and number a token names, or ``None`` when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _LENGTH or raw[:1] != _VERSION:
        return None
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, keys.refresh_mac(body)[:_MAC_BYTES]):
        return None
    return UUID(bytes=body[1:17]), int.from_bytes(body[17:25], "big")
