"""``/api/conversations``: the caller's chat history, and sending a message without a socket."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from protocol import MAX_CONTENT_LENGTH, MAX_ID_LENGTH, ErrorCode, StoredMessage

from ..errors import InvalidInput
from ..state import app_state
from .guard import require_principal
from .operation import Answer, operation, routes_of
from .pages import MessagePage, PageQuery, page_of
from .parsing import read_json, read_query
from .responses import json_response


class HistoryQuery(PageQuery, kw_only=True):
    replica_id: (
        Annotated[
            str,
            msgspec.Meta(max_length=MAX_ID_LENGTH, description="One stream; omit for all replicas, newest first."),
        ]
        | None
    ) = None


@operation("GET", "/api/conversations", "listMessages", tag="chat", query=HistoryQuery, answers={200: MessagePage})
async def list_conversations(request: Request) -> Response:
    """Chat history, newest first.

    With `replica_id`: one stream, paged by `before` (a sequence number); without: every stream by time.
    """
    principal = await require_principal(request)
    query = read_query(request, HistoryQuery)
    if query.before is not None and query.replica_id is None:
        raise InvalidInput("'before' pages one stream: give 'replica_id' too")
    chat = app_state(request)["chat"]
    messages = await chat.history(principal.user_id, query.replica_id, before=query.before, limit=query.limit)
    return json_response(page_of(messages, query, pages=query.replica_id is not None))


class NewMessage(msgspec.Struct, forbid_unknown_fields=True):
    replica_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
    content: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONTENT_LENGTH)]
    client_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)] | None = None


class Exchange(msgspec.Struct):
    """The stored message and the replica's stored reply."""

    message: StoredMessage
    reply: StoredMessage
    duplicate: Annotated[bool, msgspec.Meta(description="The client_id was stored before: nothing new was created.")]


@operation(
    "POST",
    "/api/conversations",
    "sendMessage",
    tag="chat",
    body=NewMessage,
    answers={
        201: Exchange,
        200: Answer(Exchange, "The client_id was seen before: the message and reply stored then."),
    },
    errors=[
        ErrorCode.REPLICA_NOT_FOUND,
        ErrorCode.CLIENT_ID_CONFLICT,
        ErrorCode.TASK_CONFLICT,
        ErrorCode.REPLICA_UNAVAILABLE,
        ErrorCode.REPLICA_REJECTED,
        ErrorCode.REPLICA_QUOTA_EXCEEDED,
        ErrorCode.REPLICA_POLICY_REFUSED,
    ],
)
async def send_message(request: Request) -> Response:
    """Send a message and wait for the reply.

    The socket's code path, for clients without one. When the replica fails, the problem carries the stored
    `message` (and `retryable`): send the same `client_id` again to retry.
    """
    principal = await require_principal(request)
    body = await read_json(request, NewMessage)
    chat = app_state(request)["chat"]
    done = await chat.converse(principal.user_id, body.replica_id, body.content, body.client_id)
    return json_response(Exchange(done.message, done.reply, done.duplicate), 200 if done.duplicate else 201)


routes = routes_of(list_conversations, send_message)
