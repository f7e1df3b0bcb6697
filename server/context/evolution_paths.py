"""The specialisation paths a replica evolves along (Token-Guided Evolution), as the replica is told of them."""

from __future__ import annotations

from typing import Literal

Path = Literal["scholar", "creative", "strategist"]
PATHS: dict[str, str] = {
    "scholar": "Deeper knowledge: cites sources, explains step by step.",
    "creative": "Richer imagination: stories, metaphors, unexpected angles.",
    "strategist": "Sharper planning: options, trade-offs, next moves.",
}
MAX_LEVEL = 5
