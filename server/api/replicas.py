"""``/api/replicas``: the replicas the caller can chat with."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from protocol import ErrorCode

from ..chat.service import Replica as SensayReplica
from ..prototypes.token_guided_evolution import Evolved
from ..state import app_state
from .guard import require_principal
from .operation import operation, routes_of
from .responses import json_response


class Replica(SensayReplica, kw_only=True, frozen=True):
    """A replica, with how far the caller has evolved it (Token-Guided Evolution)."""

    evolution: Annotated[
        Evolved | None, msgspec.Meta(description="The caller's path and level for this replica; null if never evolved.")
    ]


class ReplicaList(msgspec.Struct):
    """The replicas, and the one to chat with by default."""

    replicas: list[Replica]
    default_replica_id: Annotated[
        str | None, msgspec.Meta(description="`SENSAY_REPLICA_ID` when set, else the first listed (null if none).")
    ]


@operation(
    "GET",
    "/api/replicas",
    "listReplicas",
    tag="chat",
    answers={200: ReplicaList},
    errors=[ErrorCode.REPLICA_UNAVAILABLE, ErrorCode.REPLICA_REJECTED],
)
async def list_replicas(request: Request) -> Response:
    """Replicas the caller can chat with, each with the path and level the caller has evolved it to."""
    principal = await require_principal(request)
    state = app_state(request)
    replicas, default = await state["chat"].replicas(principal.user_id)
    evolved = await state["prototypes"].evolutions(principal.user_id)
    listed = [Replica(**msgspec.structs.asdict(r), evolution=evolved.get(r.uuid)) for r in replicas]
    return json_response(ReplicaList(listed, default))


routes = routes_of(list_replicas)
