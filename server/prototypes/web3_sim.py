"""A simulated chain for $SNSY transfers: the transaction hash is the sha256 of the transfer, so the same
transfer always gets the same hash (and submitting it again finds the first one)."""

from __future__ import annotations

import hashlib
from typing import Literal
from uuid import UUID

import msgspec

from .simulated import PerUserStore

GAS_USED = 51_823  # a typical ERC-20 transfer


class Transfer(msgspec.Struct, frozen=True, kw_only=True):
    hash: str
    from_: str = msgspec.field(name="from")
    to: str
    amount: int
    token: Literal["SNSY"] = "SNSY"
    status: Literal["confirmed"] = "confirmed"
    block_number: int
    gas_used: int = GAS_USED


class Chain:
    """Per-user simulated transfers, in memory."""

    def __init__(self) -> None:
        self._transfers: PerUserStore[Transfer] = PerUserStore()

    def transfer(self, user_id: UUID, from_: str | None, to: str, amount: int) -> tuple[Transfer, bool]:
        """Submit a transfer; return it and whether it is new (an identical transfer returns the first)."""
        sender = (from_ or wallet_address(user_id)).lower()
        recipient = to.lower()
        digest = hashlib.sha256(f"{sender}|{recipient}|{amount}|SNSY".encode()).hexdigest()
        tx_hash = f"0x{digest}"
        known = self._transfers.get(user_id, tx_hash)
        if known is not None:
            return known, False
        block = 19_000_000 + int(digest[:6], 16)
        made = Transfer(hash=tx_hash, from_=sender, to=recipient, amount=amount, block_number=block)
        self._transfers.put(user_id, tx_hash, made)
        return made, True

    def get(self, user_id: UUID, tx_hash: str) -> Transfer | None:
        return self._transfers.get(user_id, tx_hash.lower())


def wallet_address(user_id: UUID) -> str:
    """The user's own simulated wallet address."""
    return "0x" + hashlib.sha256(f"wallet|{user_id}".encode()).hexdigest()[:40]
