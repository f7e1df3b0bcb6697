"""Token-Gated Memories: a mock $SNSY ledger and the memories of replicas, opened by tokens.

Two gating models, as the showcase describes them. Ownership: staked tokens open whole tiers (public 0,
premium 100, expert 500, exclusive 2000 staked). Consumption: one chosen memory is unlocked by spending its
price (paid to its author, for good) or by staking five times its price on it for a term; a staked unlock the
owner neither renews nor releases lapses at the end of its term, and its stake comes back less a decay
(``MEMORY_STAKE_DECAY_PERCENT``). Permanent unlocks can be sold to other users on a mock marketplace.

Prices follow use (:func:`unlock_price`): every unlock made by spending or staking raises the next one's price by
a tenth of the memory's base price, never below the base (the floor) nor above three times it (the cap).
House memories (no author) are seeded by the operator; spending on one pays no one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from protocol import MAX_CONTENT_LENGTH, MAX_ID_LENGTH, PrototypeEventFrame

from ..errors import AlreadyUnlocked, Forbidden, InvalidInput, ListingClosed, NotFound
from ..store import chain, interactions, ledger, memories
from ..store import errors as store_errors
from ..store.users import Executor
from .base import Action, Context, Outcome, Prototype, require_replica
from .memory_seeds import LOCAL_SEEDS

ID = "token-gated-memories"
MAX_BUY = 1_000
MAX_AMOUNT = 1_000_000_000
STAKE_MULTIPLE = 5
"""A staked unlock holds this many times the memory's price, for a term."""
LAPSES_PER_SWEEP = 100
PRICE_STEP_PERCENT = 10
"""Each unlock so far adds this share of the base price to the next unlock's price."""
PRICE_CAP_MULTIPLE = 3
"""The price never exceeds this many times the base price."""

Movement = Callable[[Executor, UUID, int, dict[str, Any]], Awaitable[ledger.Account]]
Tier = Literal["public", "premium", "expert", "exclusive"]
Amount = Annotated[int, msgspec.Meta(gt=0, le=MAX_AMOUNT)]


class BuyParams(msgspec.Struct, forbid_unknown_fields=True):
    amount: Annotated[int, msgspec.Meta(gt=0, le=MAX_BUY)]


class TokenAmountParams(msgspec.Struct, forbid_unknown_fields=True):
    amount: Amount


class AddMemoryParams(msgspec.Struct, forbid_unknown_fields=True):
    replica_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
    tier: Tier
    content: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONTENT_LENGTH)]
    price: Annotated[int, msgspec.Meta(ge=0, le=MAX_AMOUNT)] | None = None


class SeedMemory(msgspec.Struct, forbid_unknown_fields=True):
    """A house memory for a replica: seeding the same content again sets its tier and price."""

    replica_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
    tier: Tier
    content: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONTENT_LENGTH)]
    price: Annotated[int, msgspec.Meta(ge=0, le=MAX_AMOUNT)] | None = None


class UnlockParams(msgspec.Struct, forbid_unknown_fields=True):
    memory_id: UUID
    method: Literal["spend", "stake"] = "spend"


class UnlockIdParams(msgspec.Struct, forbid_unknown_fields=True):
    unlock_id: UUID


class SellParams(msgspec.Struct, forbid_unknown_fields=True):
    unlock_id: UUID
    price: Amount


class ListingParams(msgspec.Struct, forbid_unknown_fields=True):
    listing_id: UUID


def unlock_price(base: int, unlocks: int) -> int:
    """What the next unlock of a memory costs after ``unlocks`` unlocks (by spending or staking): the base price
    plus a tenth of it per unlock (rounded down), from the base (the floor) up to three times it (the cap)."""
    return max(base, min(base * PRICE_CAP_MULTIPLE, base + base * unlocks * PRICE_STEP_PERCENT // 100))


class MemoryView(msgspec.Struct, frozen=True):
    """A memory as an action answers it: ``price`` is what the next unlock costs, ``base_price`` its floor."""

    id: UUID
    replica_id: str
    author_id: UUID | None
    tier: str
    content: str
    price: int
    base_price: int
    unlocks: int
    created_at: datetime


def _view(memory: memories.Memory) -> MemoryView:
    return MemoryView(
        id=memory.id,
        replica_id=memory.replica_id,
        author_id=memory.author_id,
        tier=memory.tier,
        content=memory.content,
        price=unlock_price(memory.price, memory.unlocks),
        base_price=memory.price,
        unlocks=memory.unlocks,
        created_at=memory.created_at,
    )


async def buy(ctx: Context, user_id: UUID, params: BuyParams) -> Outcome:
    """Buy mock $SNSY: new tokens land in the balance (at most 1000 per request)."""
    return await _move(ctx, user_id, "buy", params.amount, ledger.mint)


async def stake(ctx: Context, user_id: UUID, params: TokenAmountParams) -> Outcome:
    """Stake tokens from the balance: staked tokens open whole tiers; 409 insufficient_funds if short."""
    return await _move(ctx, user_id, "stake", params.amount, ledger.stake)


async def unstake(ctx: Context, user_id: UUID, params: TokenAmountParams) -> Outcome:
    """Return staked tokens to the balance; 409 insufficient_funds if less is staked."""
    return await _move(ctx, user_id, "unstake", params.amount, ledger.unstake)


async def _move(ctx: Context, user_id: UUID, action: str, amount: int, movement: Movement) -> Outcome:
    async with ctx.pool.acquire() as conn, conn.transaction():
        account = await movement(conn, user_id, amount, {"prototype": ID, "action": action})
        details = {"amount": amount, "balance": account.balance, "staked": account.staked}
        interaction = await interactions.record(conn, user_id, ID, action, details)
        tiers = await memories.list_tiers(conn)
    return Outcome({"amount": amount, **_account(account, tiers)}, interaction)


async def add_memory(ctx: Context, user_id: UUID, params: AddMemoryParams) -> Outcome:
    """Write a memory for a replica in a tier, with a price (default: the tier's); you always see your own."""
    await require_replica(ctx, user_id, params.replica_id)
    async with ctx.pool.acquire() as conn, conn.transaction():
        memory = await memories.create_memory(
            conn, user_id, params.replica_id, params.tier, params.content, params.price
        )
        details = {"memory_id": memory.id, "replica_id": memory.replica_id, "tier": memory.tier, "price": memory.price}
        interaction = await interactions.record(conn, user_id, ID, "add_memory", details)
    return Outcome({"memory": _view(memory)}, interaction)


async def seed_memory(ctx: Context, params: SeedMemory) -> MemoryView:
    """Add (or re-tier and re-price) a house memory of a replica: the operator's way to give a replica
    memories to unlock. Recorded in no user's records (it belongs to no user)."""
    async with ctx.pool.acquire() as conn:
        return _view(await memories.seed_memory(conn, params.replica_id, params.tier, params.content, params.price))


async def seed_local_memories(ctx: Context) -> int:
    """Seed the local replica's personas with their memories (idempotent); returns how many there are."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        for replica_id, seeds in LOCAL_SEEDS.items():
            for tier, content in seeds:
                await memories.seed_memory(conn, replica_id, tier, content, None)
    return sum(len(seeds) for seeds in LOCAL_SEEDS.values())


async def unlock(ctx: Context, user_id: UUID, params: UnlockParams) -> Outcome:
    """Unlock one memory at its current price (see :func:`unlock_price`): ``spend`` it (paid to its author, for
    good) or ``stake`` five times it for a term (``MEMORY_STAKE_SECONDS``); 409 already_unlocked, 409
    insufficient_funds."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        # The memory's row lock comes first and orders every unlock of it: each pays the price its turn sees,
        # and a user's second unlock at the same time finds the first (one charge).
        memory = await _memory(conn, params.memory_id, for_update=True)
        await ledger.lock_account(conn, user_id)
        if await memories.is_visible(conn, user_id, memory.id):
            raise AlreadyUnlocked("the memory is unlocked for you already")
        price = unlock_price(memory.price, memory.unlocks)
        memo = {"prototype": ID, "action": "unlock", "memory_id": memory.id, "method": params.method}
        if params.method == "spend":
            amount, expires_at = price, None
            account = await _pay(conn, user_id, memory.author_id, amount, memo)
        else:
            amount = price * STAKE_MULTIPLE
            expires_at = datetime.now(UTC) + timedelta(seconds=ctx.settings.memory_stake_seconds)
            account = await (ledger.lock(conn, user_id, amount, memo) if amount else ledger.get_account(conn, user_id))
        try:
            made = await memories.add_unlock(conn, user_id, memory.id, params.method, amount, expires_at)
        except store_errors.Conflict:
            raise AlreadyUnlocked("the memory is unlocked for you already") from None
        await memories.count_unlock(conn, memory.id)
        details = {**memo, "unlock_id": made.id, "amount": amount, "expires_at": expires_at}
        interaction = await interactions.record(conn, user_id, ID, "unlock", details)
        after = await _memory(conn, memory.id)
    return Outcome({"unlock": made, "memory": _view(after), "balance": account.balance}, interaction)


async def _pay(
    db: Executor, user_id: UUID, author_id: UUID | None, amount: int, memo: dict[str, Any]
) -> ledger.Account:
    """Pay a memory's price to its author; a house memory's price leaves the ledger."""
    if not amount:
        return await ledger.get_account(db, user_id)
    if author_id is None:
        return await ledger.spend(db, user_id, amount, memo)
    return await ledger.transfer(db, user_id, author_id, amount, memo)


async def renew(ctx: Context, user_id: UUID, params: UnlockIdParams) -> Outcome:
    """Start a new term for a live staked unlock (from now), so it does not lapse."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        held = await _live_unlock(conn, user_id, params.unlock_id)
        if held.method != "stake":
            raise InvalidInput("only a staked unlock has a term to renew - at `$.params.unlock_id`")
        expires_at = datetime.now(UTC) + timedelta(seconds=ctx.settings.memory_stake_seconds)
        renewed = await memories.extend_unlock(conn, held.id, expires_at)
        assert renewed is not None, "the unlock is locked by this transaction"
        details = {"unlock_id": held.id, "memory_id": held.memory_id, "expires_at": expires_at}
        interaction = await interactions.record(conn, user_id, ID, "renew", details)
    return Outcome({"unlock": renewed}, interaction)


async def release(ctx: Context, user_id: UUID, params: UnlockIdParams) -> Outcome:
    """End a staked unlock before it lapses: the whole stake comes back and the memory locks again."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        held = await _live_unlock(conn, user_id, params.unlock_id)
        if held.method != "stake":
            raise InvalidInput("only a staked unlock can be released; sell a permanent one - at `$.params.unlock_id`")
        ended = await memories.end_unlock(conn, held.id, "released")
        assert ended is not None
        memo = {"prototype": ID, "action": "release", "unlock_id": held.id, "memory_id": held.memory_id}
        account = await ledger.release(conn, user_id, held.amount, memo)
        interaction = await interactions.record(conn, user_id, ID, "release", {**memo, "returned": held.amount})
    return Outcome({"unlock": ended, "returned": held.amount, "balance": account.balance}, interaction)


async def sell(ctx: Context, user_id: UUID, params: SellParams) -> Outcome:
    """Offer a permanent unlock (spent or bought) on the marketplace at a price; other users see the offer."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        held = await _live_unlock(conn, user_id, params.unlock_id)
        if held.method == "stake":
            raise InvalidInput("a staked unlock cannot be sold; release it instead - at `$.params.unlock_id`")
        try:
            listing = await memories.create_listing(conn, user_id, held, params.price)
        except store_errors.Conflict:
            raise InvalidInput("this unlock is on offer already - at `$.params.unlock_id`") from None
        details = {"listing_id": listing.id, "unlock_id": held.id, "memory_id": held.memory_id, "price": listing.price}
        interaction = await interactions.record(conn, user_id, ID, "sell", details)
    return Outcome({"listing": listing}, interaction)


async def withdraw(ctx: Context, user_id: UUID, params: ListingParams) -> Outcome:
    """Take your offer off the marketplace; 409 listing_closed if it was sold meanwhile."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        listing = await _listing(conn, params.listing_id)
        if listing.seller_id != user_id:
            raise NotFound(f"no listing {params.listing_id} of yours")
        closed = await _close(conn, listing.id, "withdrawn", None)
        interaction = await interactions.record(conn, user_id, ID, "withdraw", {"listing_id": listing.id})
    return Outcome({"listing": closed}, interaction)


async def buy_listing(ctx: Context, user_id: UUID, params: ListingParams) -> Outcome:
    """Buy another user's offer: the price moves to the seller, the unlock to you (the seller loses it);
    409 listing_closed when someone else was faster, 409 insufficient_funds, 409 already_unlocked."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        listing = await _listing(conn, params.listing_id, for_update=True)
        if listing.seller_id == user_id:
            raise Forbidden("you cannot buy your own offer; withdraw it instead")
        if listing.status != "open":
            raise ListingClosed(f"the listing was {listing.status} already")
        if await memories.is_visible(conn, user_id, listing.memory_id):
            raise AlreadyUnlocked("the memory is unlocked for you already")
        memo = {"prototype": ID, "action": "buy_listing", "listing_id": listing.id, "memory_id": listing.memory_id}
        account = await ledger.transfer(conn, user_id, listing.seller_id, listing.price, memo)
        sold = await memories.end_unlock(conn, listing.unlock_id, "sold")
        if sold is None:  # the seller's unlock ended meanwhile (cannot happen while the listing is open)
            raise ListingClosed("the seller no longer holds this unlock")
        closed = await _close(conn, listing.id, "sold", user_id)
        bought = await memories.add_unlock(conn, user_id, listing.memory_id, "purchase", listing.price, None)
        details = {**memo, "unlock_id": bought.id, "price": listing.price, "seller_id": listing.seller_id}
        interaction = await interactions.record(conn, user_id, ID, "buy_listing", details)
        await interactions.record(conn, listing.seller_id, ID, "sold", {**details, "buyer_id": user_id})
    return Outcome({"listing": closed, "unlock": bought, "balance": account.balance}, interaction)


async def lapse_due_stakes(ctx: Context) -> int:
    """End staked unlocks past their term: the memory locks again and the stake returns less the decay.

    Each lapse is claimed with ``SKIP LOCKED`` and settled in one transaction, so exactly one process settles
    it; returns how many lapsed.
    """
    decay_percent = ctx.settings.memory_stake_decay_percent
    lapsed: list[tuple[memories.Unlock, int]] = []
    async with ctx.pool.acquire() as conn, conn.transaction():
        for held in await memories.claim_lapsed(conn, LAPSES_PER_SWEEP):
            decayed = held.amount * decay_percent // 100
            memo = {"prototype": ID, "action": "lapse", "unlock_id": held.id, "decayed": decayed}
            await memories.end_unlock(conn, held.id, "lapsed")
            await ledger.release(conn, held.user_id, held.amount - decayed, {**memo, "memory_id": held.memory_id})
            details = {**memo, "memory_id": held.memory_id, "returned": held.amount - decayed}
            await interactions.record(conn, held.user_id, ID, "lapse", details)
            lapsed.append((held, decayed))
    for held, decayed in lapsed:
        data = {"unlock_id": str(held.id), "memory_id": str(held.memory_id), "returned": held.amount - decayed}
        await ctx.hub.send_to_user(held.user_id, PrototypeEventFrame(prototype=ID, event="stake_lapsed", data=data))
    return len(lapsed)


async def _memory(db: Executor, memory_id: UUID, *, for_update: bool = False) -> memories.Memory:
    try:
        return await memories.get_memory(db, memory_id, for_update=for_update)
    except store_errors.NotFound:
        raise NotFound(f"no memory {memory_id}") from None


async def _live_unlock(db: Executor, user_id: UUID, unlock_id: UUID) -> memories.Unlock:
    try:
        held = await memories.get_unlock(db, user_id, unlock_id, for_update=True)
    except store_errors.NotFound:
        raise NotFound(f"no unlock {unlock_id} of yours") from None
    if held.ended_at is not None:
        raise NotFound(f"unlock {unlock_id} has ended ({held.end_reason})")
    return held


async def _listing(db: Executor, listing_id: UUID, *, for_update: bool = False) -> memories.Listing:
    try:
        return await memories.get_listing(db, listing_id, for_update=for_update)
    except store_errors.NotFound:
        raise NotFound(f"no listing {listing_id}") from None


async def _close(
    db: Executor, listing_id: UUID, status: memories.ListingStatus, buyer: UUID | None
) -> memories.Listing:
    try:
        return await memories.close_listing(db, listing_id, status, buyer)
    except store_errors.Conflict:
        raise ListingClosed("the listing was sold or withdrawn already") from None


def _account(account: ledger.Account, tiers: list[memories.Tier]) -> dict[str, Any]:
    locked = [t for t in tiers if account.staked < t.threshold]
    next_tier = None
    if locked:
        first = locked[0]
        next_tier = {"tier": first.tier, "threshold": first.threshold, "missing": first.threshold - account.staked}
    return {
        "balance": account.balance,
        "staked": account.staked,
        "tiers": [
            {"tier": t.tier, "threshold": t.threshold, "price": t.price, "unlocked": account.staked >= t.threshold}
            for t in tiers
        ],
        "next_tier": next_tier,
    }


class ListedMemory(msgspec.Struct, frozen=True):
    """A memory as one user's state lists it: content only when unlocked for them; ``price`` is what the next
    unlock costs."""

    id: UUID
    replica_id: str
    tier: str
    price: int
    base_price: int
    unlocks: int
    unlocked: bool
    content: str | None
    created_at: datetime
    authored: bool
    house: bool


def _priced(memory: memories.MemoryView) -> ListedMemory:
    return ListedMemory(
        id=memory.id,
        replica_id=memory.replica_id,
        tier=memory.tier,
        price=unlock_price(memory.price, memory.unlocks),
        base_price=memory.price,
        unlocks=memory.unlocks,
        unlocked=memory.unlocked,
        content=memory.content,
        created_at=memory.created_at,
        authored=memory.authored,
        house=memory.house,
    )


async def state(ctx: Context, user_id: UUID) -> dict[str, Any]:
    """Balance and stake, the tiers, every memory (content only when unlocked for you), your live unlocks and
    the marketplace's open offers. The full journal is ``GET /api/ledger``."""
    async with ctx.pool.acquire() as conn:
        account = await ledger.get_account(conn, user_id)
        tiers = await memories.list_tiers(conn)
        listed = await memories.list_for_user(conn, user_id, None)
        unlocks = [u for u in await memories.list_unlocks(conn, user_id) if u.ended_at is None]
        offers = await memories.open_offers(conn)
        wallet = await chain.wallet_of(conn, user_id)
    return {
        **_account(account, tiers),
        "wallet_address": wallet,
        "memories": [_priced(m) for m in listed],
        "unlocks": unlocks,
        "marketplace": offers,
    }


PROTOTYPE = Prototype(
    id=ID,
    name="Token-Gated Memories",
    summary="Buy mock $SNSY; stake it to open whole tiers of replicas' memories (premium 100, expert 500, "
    "exclusive 2000 staked), or unlock one memory by spending its price or staking on it for a term (each "
    "unlock raises the next one's price by a tenth, up to three times the base); sell permanent unlocks to "
    "other users. Unlocked memories reach the replica when it talks to you.",
    state=state,
    actions={
        "buy": Action(BuyParams, buy),
        "stake": Action(TokenAmountParams, stake),
        "unstake": Action(TokenAmountParams, unstake),
        "add_memory": Action(AddMemoryParams, add_memory),
        "unlock": Action(UnlockParams, unlock),
        "renew": Action(UnlockIdParams, renew),
        "release": Action(UnlockIdParams, release),
        "sell": Action(SellParams, sell),
        "withdraw": Action(ListingParams, withdraw),
        "buy_listing": Action(ListingParams, buy_listing),
    },
    events={"stake_lapsed": "{unlock_id, memory_id, returned}: a staked unlock reached the end of its term"},
)
