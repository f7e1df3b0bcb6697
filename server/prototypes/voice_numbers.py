"""Pure Voice: the user's own phone number, proven by a code the telephony provider texts to it.

Calls from the verified number skip the PIN. A verified number belongs to one user. A claim waiting for its code
reserves nothing and its wrong codes count only against itself, so another user who types the owner's number
can neither lock the owner out nor take the number: only whoever reads the code on that phone can verify it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime
from typing import Annotated, Final
from uuid import UUID

import msgspec

from ..errors import InvalidInput, NumberTaken, RateLimited, WrongCode
from ..store import interactions
from ..store import voice_numbers as store
from .base import Context, Outcome

PROTOTYPE_ID: Final = "pure-voice"
CODE_DIGITS: Final = 6
CODE_SECONDS: Final = 600.0
"""How long a code can be used."""
CODE_ATTEMPTS: Final = 5
"""Guesses allowed per code; then a new code must be sent."""
CODES_PER_WINDOW: Final = 5
CODE_WINDOW_SECONDS: Final = 3600.0
"""At most CODES_PER_WINDOW codes are sent for one user per CODE_WINDOW_SECONDS (per user, not per number: a
limit per number would let anyone use it up and keep the owner from getting a code)."""

_E164: Final = re.compile(r"^\+[1-9][0-9]{6,14}$")
_FORMATTING: Final = re.compile(r"[\s().\-/]")


class RegisterNumberParams(msgspec.Struct, forbid_unknown_fields=True):
    number: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=40,
            description='International format: "+44 20 7946 0018", "0044 20 7946 0018" or E.164',
        ),
    ]


class VerifyNumberParams(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(max_length=32)]


class NoParams(msgspec.Struct, forbid_unknown_fields=True):
    pass


def normalise(text: str) -> str:
    """``text`` as E.164 (``+`` and up to 15 digits): spaces, dots, dashes, slashes and parentheses dropped, a
    leading ``00`` read as ``+``; :class:`InvalidInput` for anything else (a national number has no country)."""
    compact = _FORMATTING.sub("", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not _E164.fullmatch(compact):
        raise InvalidInput(
            f"{text!r} is not an international phone number (give + and the country code, e.g. +14155550123)"
            " - at `$.params.number`"
        )
    return compact


def _digest(user_id: UUID, number: str, code: str) -> bytes:
    return hashlib.sha256(f"{user_id}|{number}|{code}".encode()).digest()


async def register_number(ctx: Context, user_id: UUID, params: RegisterNumberParams) -> Outcome:
    """Claim a number: the provider texts it a code (``verify_number`` takes it); a new code replaces the last."""
    number = normalise(params.number)
    owner = await store.owner_of(ctx.pool, number)
    if owner == user_id:
        raise InvalidInput(f"{number} is your verified number already")
    if owner is not None:
        raise NumberTaken(f"{number} is verified by another user")
    code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
    async with ctx.pool.acquire() as conn, conn.transaction():
        claimed = await store.start_claim(
            conn, user_id, number, _digest(user_id, number, code), CODE_SECONDS, CODES_PER_WINDOW, CODE_WINDOW_SECONDS
        )
        if claimed is None:
            ends = await store.window_ends(conn, user_id, CODE_WINDOW_SECONDS)
            wait = max((ends - datetime.now(UTC)).total_seconds(), 1.0) if ends is not None else CODE_WINDOW_SECONDS
            raise RateLimited(f"{CODES_PER_WINDOW} codes were sent within the hour: try again later", wait)
        details = {"pending_number": number, "code_expires_at": claimed.code_expires_at}
        interaction = await interactions.record(conn, user_id, PROTOTYPE_ID, "register_number", details)
    ctx.voice.telephony.send_message(user_id, number, f"Your Sensay hub code is {code}")
    return Outcome({"number": claimed}, interaction)


async def verify_number(ctx: Context, user_id: UUID, params: VerifyNumberParams) -> Outcome:
    """Give the code texted to the pending number: it becomes the user's verified number. A wrong code is 403
    ``wrong_code`` with the attempts left; after CODE_ATTEMPTS, or once expired, the code is no longer accepted."""
    pending = await store.use_attempt(ctx.pool, user_id, CODE_ATTEMPTS)
    if pending is None:
        state = await store.get(ctx.pool, user_id)
        if state.pending_number is None:
            raise InvalidInput("no number waits for a code (register_number first)")
        raise WrongCode("no attempts left on this code: send a new one (register_number)")
    if pending.expired:
        raise WrongCode("the code has expired: send a new one (register_number)")
    matches = hmac.compare_digest(pending.code_hash, _digest(user_id, pending.pending_number, params.code.strip()))
    if not matches:
        left = CODE_ATTEMPTS - pending.attempts
        if left == 0:
            raise WrongCode("wrong code: no attempts left, send a new one (register_number)")
        raise WrongCode(f"wrong code: {left} attempt{'s' if left > 1 else ''} left")
    async with ctx.pool.acquire() as conn, conn.transaction():
        try:
            verified = await store.confirm(conn, user_id, pending.pending_number, pending.code_hash)
        except store.NumberTaken:
            raise NumberTaken(f"{pending.pending_number} was verified by another user meanwhile") from None
        if verified is None:
            raise WrongCode("a new code was sent meanwhile: give that one")
        details = {"number": verified.number}
        interaction = await interactions.record(conn, user_id, PROTOTYPE_ID, "verify_number", details)
    return Outcome({"number": verified}, interaction)


async def remove_number(ctx: Context, user_id: UUID, _: NoParams) -> Outcome:
    """Forget the verified number (and any pending one): calls from it are asked for the PIN again."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        removed = await store.remove(conn, user_id)
        interaction = await interactions.record(conn, user_id, PROTOTYPE_ID, "remove_number", {"removed": removed})
    return Outcome({"removed": removed}, interaction)
