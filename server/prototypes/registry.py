"""The prototypes by id."""

from __future__ import annotations

from . import bonding_replicas, chatroom, mcp, pure_voice, task_memory, token_gated_memories, token_guided_evolution
from .base import Prototype

PROTOTYPES: dict[str, Prototype] = {
    module.PROTOTYPE.id: module.PROTOTYPE
    for module in (
        task_memory,
        pure_voice,
        mcp,
        token_gated_memories,
        token_guided_evolution,
        bonding_replicas,
        chatroom,
    )
}
