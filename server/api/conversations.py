"""``/api/conversations``: the caller's chat history, and sending a message without a socket."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol import MAX_CONTENT_LENGTH, MAX_ID_LENGTH

from ..errors import InvalidInput
from ..state import app_state
from .guard import require_principal
from .parsing import query_int, read_json
from .responses import json_response

MAX_PAGE = 200


async def list_conversations(request: Request) -> Response:
    """Newest first. With ``replica_id``: one stream, paged by ``before`` (a sequence number)."""
    principal = await require_principal(request)
    replica_id = request.query_params.get("replica_id") or None
    before = query_int(request, "before", default=None, low=1, high=2**62)
    limit = query_int(request, "limit", default=50, low=1, high=MAX_PAGE)
    assert limit is not None
    if before is not None and replica_id is None:
        raise InvalidInput("'before' pages one stream: give 'replica_id' too")
    if replica_id is not None and len(replica_id) > MAX_ID_LENGTH:
        raise InvalidInput(f"'replica_id' is at most {MAX_ID_LENGTH} characters")
    messages = await app_state(request)["chat"].history(principal.user_id, replica_id, before=before, limit=limit)
    next_before = messages[-1].seq if replica_id is not None and len(messages) == limit else None
    return json_response({"messages": messages, "next_before": next_before})


class NewMessage(msgspec.Struct, forbid_unknown_fields=True):
    replica_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
    content: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONTENT_LENGTH)]
    client_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)] | None = None


async def send_message(request: Request) -> Response:
    """Store a message and wait for the replica's reply: the socket's code path, for clients without one."""
    principal = await require_principal(request)
    body = await read_json(request, NewMessage)
    chat = app_state(request)["chat"]
    done = await chat.converse(principal.user_id, body.replica_id, body.content, body.client_id)
    answer = {"message": done.message, "reply": done.reply, "duplicate": done.duplicate}
    return json_response(answer, 200 if done.duplicate else 201)


routes = [
    Route("/api/conversations", list_conversations, methods=["GET"]),
    Route("/api/conversations", send_message, methods=["POST"]),
]
