"""Token-Guided Evolution: spend mock $SNSY to move a replica along one specialisation path, level by level."""

from __future__ import annotations

import base64
from html import escape
from typing import Annotated, Any, cast
from uuid import UUID

import msgspec

from protocol import MAX_ID_LENGTH

from ..context.evolution_paths import MAX_LEVEL, PATHS, Path
from ..errors import MaxLevel, NotFound, PathLocked
from ..store import evolutions, interactions, ledger
from .base import Action, Context, Outcome, Prototype, require_replica

ID = "token-guided-evolution"
BASE_COST = 50


def level_cost(level: int) -> int:
    """Tokens it takes to reach ``level`` (1-based): each level costs twice the one before."""
    return BASE_COST << (level - 1)


class EvolveParams(msgspec.Struct, forbid_unknown_fields=True):
    replica_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
    path: Path


async def evolve(ctx: Context, user_id: UUID, params: EvolveParams) -> Outcome:
    """Spend tokens to raise the replica one level on its path; the first evolution chooses the path for good."""
    await require_replica(ctx, user_id, params.replica_id)
    async with ctx.pool.acquire() as conn, conn.transaction():
        # The account lock orders this user's evolutions, so two requests cannot both buy the same level.
        await ledger.lock_account(conn, user_id)
        current = await evolutions.get_evolution(conn, user_id, params.replica_id)
        if current is not None and current.path != params.path:
            raise PathLocked(f"the replica already follows the {current.path!r} path")
        level = 1 if current is None else current.level + 1
        if level > MAX_LEVEL:
            raise MaxLevel(f"the replica is at the top level ({MAX_LEVEL})")
        cost = level_cost(level)
        memo = {"prototype": ID, "replica_id": params.replica_id, "path": params.path, "level": level}
        account = await ledger.spend(conn, user_id, cost, memo)
        evolution = await evolutions.advance(conn, user_id, params.replica_id, params.path, level, cost)
        details = {**memo, "cost": cost, "balance": account.balance}
        interaction = await interactions.record(conn, user_id, ID, "evolve", details)
    result = {
        "evolution": _view(evolution),
        "cost": cost,
        "balance": account.balance,
        "token_uri": token_uri(params.replica_id, level),
    }
    return Outcome(result, interaction)


def _view(evolution: evolutions.Evolution) -> dict[str, Any]:
    next_cost = level_cost(evolution.level + 1) if evolution.level < MAX_LEVEL else None
    tokens = [token_uri(evolution.replica_id, n) for n in range(1, evolution.level + 1)]
    return {**msgspec.structs.asdict(evolution), "next_cost": next_cost, "token_uris": tokens}


def token_uri(replica_id: str, level: int) -> str:
    """Where a level's mock NFT metadata is served (to its owner)."""
    return f"/api/prototype/{ID}/nft/{replica_id}/{level}"


TITLES: dict[str, tuple[str, ...]] = {
    "scholar": ("Apprentice", "Reader", "Researcher", "Professor", "Sage"),
    "creative": ("Dabbler", "Maker", "Storyteller", "Visionary", "Muse"),
    "strategist": ("Planner", "Tactician", "Advisor", "General", "Grandmaster"),
}


async def nft_metadata(ctx: Context, user_id: UUID, replica_id: str, level: int) -> dict[str, Any]:
    """The ERC-721 metadata JSON (name, description, image, attributes) of a level the user's replica reached;
    :class:`~server.errors.NotFound` for a level it has not reached."""
    evolution = await evolutions.get_evolution(ctx.pool, user_id, replica_id)
    if evolution is None or not 1 <= level <= evolution.level:
        raise NotFound(f"replica {replica_id} has not reached level {level} for you")
    name = await ctx.replicas.name(str(user_id), replica_id)
    title = TITLES[evolution.path][level - 1]
    image = (
        "<svg xmlns='http://www.w3.org/2000/svg' width='256' height='256'><rect width='256' height='256' "
        f"fill='#312e81'/><text x='128' y='120' fill='white' font-size='20' text-anchor='middle'>{escape(name)}"
        f"</text><text x='128' y='150' fill='#c7d2fe' font-size='16' text-anchor='middle'>{title} "
        f"(level {level})</text></svg>"
    )
    return {
        "name": f"{name}: {title}",
        "description": f"{name} reached level {level} of {MAX_LEVEL} on the {evolution.path} path: "
        f"{PATHS[evolution.path]}",
        "image": "data:image/svg+xml;base64," + base64.b64encode(image.encode()).decode(),
        "external_url": token_uri(replica_id, level),
        "attributes": [
            {"trait_type": "Replica", "value": name},
            {"trait_type": "Path", "value": evolution.path},
            {"trait_type": "Level", "value": level, "display_type": "number", "max_value": MAX_LEVEL},
            {"trait_type": "Cost", "value": level_cost(level), "display_type": "number"},
        ],
    }


class Evolved(msgspec.Struct, frozen=True):
    """How far the user has evolved a replica, as ``GET /api/replicas`` shows it."""

    path: Path
    level: Annotated[int, msgspec.Meta(ge=1, le=MAX_LEVEL)]
    max_level: int
    title: Annotated[str, msgspec.Meta(description="The level's title on the path, e.g. `Reader`.")]
    next_cost: Annotated[int | None, msgspec.Meta(description="Tokens the next level costs; null at the top.")]


async def evolved(ctx: Context, user_id: UUID) -> dict[str, Evolved]:
    """Replica id -> its path and level for the user (replicas never evolved are absent)."""
    return {
        e.replica_id: Evolved(
            path=cast(Path, e.path),
            level=e.level,
            max_level=MAX_LEVEL,
            title=TITLES[e.path][e.level - 1],
            next_cost=level_cost(e.level + 1) if e.level < MAX_LEVEL else None,
        )
        for e in await evolutions.list_evolutions(ctx.pool, user_id)
    }


async def state(ctx: Context, user_id: UUID) -> dict[str, Any]:
    """The balance, the paths, the cost of each level, and each evolved replica with its next cost."""
    account = await ledger.get_account(ctx.pool, user_id)
    return {
        "balance": account.balance,
        "paths": PATHS,
        "max_level": MAX_LEVEL,
        "levels": [{"level": n, "cost": level_cost(n)} for n in range(1, MAX_LEVEL + 1)],
        "replicas": [_view(e) for e in await evolutions.list_evolutions(ctx.pool, user_id)],
    }


PROTOTYPE = Prototype(
    id=ID,
    name="Token-Guided Evolution",
    summary="Spend mock $SNSY (bought in Token-Gated Memories) to evolve a replica along the scholar, creative or "
    "strategist path; each level costs twice the last.",
    state=state,
    actions={"evolve": Action(EvolveParams, evolve)},
)
