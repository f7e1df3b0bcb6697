"""A simulated chain for $SNSY transfers that moves real (mock) ledger balances.

A transfer debits the sender's ledger balance (refused when it is smaller) and credits the user whose wallet the
recipient address is (an address outside the hub just receives). Each of a sender's transfers has a nonce, as on
Ethereum: two identical transfers are two transfers, and sending the same nonce again answers the first.
The transaction hash is the sha256 of sender, recipient, amount, token and nonce.
"""

from __future__ import annotations

import hashlib
from typing import Literal
from uuid import UUID

import msgspec

from ..errors import Forbidden, InsufficientFunds, InvalidInput
from ..store import chain, interactions, ledger
from ..store import errors as store_errors
from ..store.users import Executor

GAS_USED = 51_823  # a typical ERC-20 transfer
PROTOTYPE = "mock"


class Transfer(msgspec.Struct, frozen=True, kw_only=True):
    hash: str
    from_: str = msgspec.field(name="from")
    to: str
    amount: int
    nonce: int
    token: Literal["SNSY"] = "SNSY"
    status: Literal["confirmed"] = "confirmed"
    block_number: int
    gas_used: int = GAS_USED


def _view(made: chain.ChainTransfer) -> Transfer:
    return Transfer(
        hash=made.hash,
        from_=made.from_address,
        to=made.to_address,
        amount=made.amount,
        nonce=made.nonce,
        block_number=made.block_number,
    )


async def send(
    conn: Executor, user_id: UUID, from_: str | None, to: str, amount: int, nonce: int | None
) -> tuple[Transfer, bool]:
    """Submit a transfer inside a transaction; return it and whether it is new (its nonce was unused)."""
    await ledger.lock_account(conn, user_id)  # orders this sender's nonces and debits
    sender = await chain.wallet_of(conn, user_id)
    if from_ is not None and from_.lower() != sender:
        raise Forbidden(f"you can only send from your own wallet {sender}")
    recipient_address = to.lower()
    if nonce is not None:
        known = await chain.by_nonce(conn, user_id, nonce)
        if known is not None:
            if (known.to_address, known.amount) != (recipient_address, amount):
                raise InvalidInput(f"nonce {nonce} was used by another transfer - at `$.nonce`")
            return _view(known), False
    else:
        nonce = await chain.next_nonce(conn, user_id)
    recipient = await chain.owner_of(conn, recipient_address)
    digest = hashlib.sha256(f"{sender}|{recipient_address}|{amount}|SNSY|{nonce}".encode()).hexdigest()
    memo = {"prototype": PROTOTYPE, "action": "web3.transfer", "hash": f"0x{digest}", "to": recipient_address}
    try:
        await ledger.transfer(conn, user_id, recipient, amount, memo)
    except store_errors.InsufficientFunds:
        raise InsufficientFunds(f"cannot send {amount} SNSY: the balance is smaller") from None
    made = await chain.add(
        conn,
        tx_hash=f"0x{digest}",
        user_id=user_id,
        from_address=sender,
        to_address=recipient_address,
        recipient_id=recipient,
        amount=amount,
        nonce=nonce,
        block_number=19_000_000 + int(digest[:6], 16),
    )
    if recipient is not None and recipient != user_id:
        details = {"hash": made.hash, "from": sender, "amount": amount}
        await interactions.record(conn, recipient, PROTOTYPE, "web3.received", details)
    return _view(made), True


async def find(db: Executor, user_id: UUID, tx_hash: str) -> Transfer | None:
    made = await chain.get(db, user_id, tx_hash)
    return _view(made) if made else None


def wallet_address(user_id: UUID) -> str:
    """The user's own simulated wallet address (the same the database derives)."""
    return "0x" + hashlib.sha256(f"wallet|{user_id}".encode()).hexdigest()[:40]
