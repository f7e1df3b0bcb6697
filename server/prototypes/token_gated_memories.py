"""Token-Gated Memories: a mock $SNSY ledger; staking unlocks tiers of a replica's memories."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID

import msgspec

from ..store import interactions, ledger
from ..store.users import Executor
from .base import Action, Context, Outcome, Prototype

ID = "token-gated-memories"
MAX_BUY = 1_000
MAX_AMOUNT = 1_000_000_000

TIERS: list[tuple[str, int, list[str]]] = [
    ("public", 0, ["Ada was born in London in 1815.", "She corresponded with Charles Babbage for years."]),
    ("premium", 100, ["Her notes on the Analytical Engine were longer than the article they annotated."]),
    ("expert", 500, ["Note G holds a method for computing Bernoulli numbers: often called the first program."]),
    ("exclusive", 2000, ["She imagined engines composing music of any degree of complexity."]),
]
"""(tier, staked amount that unlocks it, its memories)."""
Movement = Callable[[Executor, UUID, int, dict[str, Any]], Awaitable[ledger.Account]]


class BuyParams(msgspec.Struct, forbid_unknown_fields=True):
    amount: Annotated[int, msgspec.Meta(gt=0, le=MAX_BUY)]


class TokenAmountParams(msgspec.Struct, forbid_unknown_fields=True):
    amount: Annotated[int, msgspec.Meta(gt=0, le=MAX_AMOUNT)]


async def buy(ctx: Context, user_id: UUID, params: BuyParams) -> Outcome:
    """Buy mock $SNSY: new tokens land in the balance (at most 1000 per request)."""
    return await _move(ctx, user_id, "buy", params.amount, ledger.mint)


async def stake(ctx: Context, user_id: UUID, params: TokenAmountParams) -> Outcome:
    """Stake tokens from the balance; 409 insufficient_funds if the balance is smaller."""
    return await _move(ctx, user_id, "stake", params.amount, ledger.stake)


async def unstake(ctx: Context, user_id: UUID, params: TokenAmountParams) -> Outcome:
    """Return staked tokens to the balance; 409 insufficient_funds if less is staked."""
    return await _move(ctx, user_id, "unstake", params.amount, ledger.unstake)


async def _move(ctx: Context, user_id: UUID, action: str, amount: int, movement: Movement) -> Outcome:
    async with ctx.pool.acquire() as conn, conn.transaction():
        account = await movement(conn, user_id, amount, {"prototype": ID, "action": action})
        details = {"amount": amount, "balance": account.balance, "staked": account.staked}
        interaction = await interactions.record(conn, user_id, ID, action, details)
    return Outcome({"amount": amount, **_view(account)}, interaction)


def _view(account: ledger.Account) -> dict[str, Any]:
    tiers = [
        {"tier": name, "threshold": threshold, "unlocked": account.staked >= threshold} for name, threshold, _ in TIERS
    ]
    locked = [(name, threshold) for name, threshold, _ in TIERS if account.staked < threshold]
    next_tier = None
    if locked:
        name, threshold = locked[0]
        next_tier = {"tier": name, "threshold": threshold, "unlocked": False, "missing": threshold - account.staked}
    return {
        "balance": account.balance,
        "staked": account.staked,
        "tiers": tiers,
        "next_tier": next_tier,
        "memories": [
            {"tier": name, "text": text}
            for name, threshold, memories in TIERS
            if account.staked >= threshold
            for text in memories
        ],
    }


async def state(ctx: Context, user_id: UUID) -> dict[str, Any]:
    """Balance, staked amount, the tiers with ``unlocked`` flags, and the memories of unlocked tiers."""
    return _view(await ledger.get_account(ctx.pool, user_id))


PROTOTYPE = Prototype(
    id=ID,
    name="Token-Gated Memories",
    summary="Buy mock $SNSY and stake it: public, premium (100), expert (500) and exclusive (2000) staked tokens "
    "unlock more of a replica's memories.",
    state=state,
    actions={
        "buy": Action(BuyParams, buy),
        "stake": Action(TokenAmountParams, stake),
        "unstake": Action(TokenAmountParams, unstake),
    },
)
