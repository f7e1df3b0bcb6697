"""``/api/conversations``: the caller's chat history, and sending a message without a socket."""

from __future__ import annotations

import asyncio
from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol import MAX_CONTENT_LENGTH, MAX_ID_LENGTH

from ..chat.service import ReplyFailed, UnknownReplica
from ..sensay.errors import SensayError
from ..store import conversations
from .guard import require_principal
from .parsing import query_int, read_json
from .problems import Problem
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
        raise Problem(422, "validation_error", "'before' pages one stream: give 'replica_id' too")
    if replica_id is not None and len(replica_id) > 128:
        raise Problem(422, "validation_error", "'replica_id' is at most 128 characters")
    messages = await conversations.list_messages(
        request.state.pool, principal.user_id, replica_id, before=before, limit=limit
    )
    next_before = messages[-1].seq if replica_id is not None and len(messages) == limit else None
    return json_response({"messages": [m.wire() for m in messages], "next_before": next_before})


class NewMessage(msgspec.Struct, forbid_unknown_fields=True):
    replica_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
    content: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONTENT_LENGTH)]
    client_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)] | None = None


async def send_message(request: Request) -> Response:
    """Store a message and wait for the replica's reply: the socket's code path, for clients without one."""
    principal = await require_principal(request)
    body = await read_json(request, NewMessage)
    chat = request.state.chat
    try:
        message, duplicate = await chat.accept(principal.user_id, body.replica_id, body.content, body.client_id)
    except UnknownReplica:
        raise Problem(404, "replica_not_found", f"no replica {body.replica_id!r}") from None
    except SensayError as exc:
        raise Problem(503 if exc.retryable else 502, "replica_unavailable", "the replica service failed") from None
    if duplicate and (message.replica_id != body.replica_id or message.message != body.content):
        raise Problem(409, "client_id_conflict", "this client_id was already used for a different message")
    try:
        reply = await asyncio.shield(await chat.deliver(message, duplicate))
    except ReplyFailed as exc:
        raise Problem(
            503 if exc.retryable else 502,
            exc.code.value,
            "the message is stored but the replica could not answer; send the same client_id again to retry",
            message=message.wire(),
            retryable=exc.retryable,
        ) from None
    body = {"message": message.wire(), "reply": reply.wire(), "duplicate": duplicate}
    return json_response(body, 200 if duplicate else 201)


routes = [
    Route("/api/conversations", list_conversations, methods=["GET"]),
    Route("/api/conversations", send_message, methods=["POST"]),
]
