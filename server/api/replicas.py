"""``/api/replicas``: the replicas the caller can chat with."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from protocol import ErrorCode

from ..chat.service import Replica
from ..state import app_state
from .guard import require_principal
from .operation import operation, routes_of
from .responses import json_response


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
    """Replicas the caller can chat with."""
    principal = await require_principal(request)
    replicas, default = await app_state(request)["chat"].replicas(principal.user_id)
    return json_response(ReplicaList(replicas, default))


routes = routes_of(list_replicas)
