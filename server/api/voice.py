"""``/api/voice``: the transcripts of the caller's Pure Voice calls, a page at a time."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from protocol import ErrorCode

from ..prototypes.pure_voice import Transcript
from ..state import app_state
from .guard import require_principal
from .operation import operation, routes_of
from .pages import MAX_PAGE
from .parsing import path_uuid, read_query
from .responses import json_response


class TranscriptQuery(msgspec.Struct, kw_only=True):
    after: Annotated[
        int, msgspec.Meta(ge=0, le=2**31, description="The previous page's `next_after`: what comes after it.")
    ] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE, description="Page size.")] = 50


@operation(
    "GET",
    "/api/voice/calls/{call_id}/transcript",
    "getCallTranscript",
    tag="prototypes",
    path_params={"call_id": UUID},
    query=TranscriptQuery,
    answers={200: Transcript},
    errors=[ErrorCode.CALL_NOT_FOUND, ErrorCode.NOT_FOUND],
)
async def show_transcript(request: Request) -> Response:
    """A call and its transcript, in the order said, a page at a time (another user's call is 404).

    Lines are numbered per call (`seq`); a replica line says which line it `answers` (0: it opened the call).
    """
    principal = await require_principal(request)
    call_id = path_uuid(request, "call_id")
    query = read_query(request, TranscriptQuery)
    prototypes = app_state(request)["prototypes"]
    page = await prototypes.voice_transcript(principal.user_id, call_id, after=query.after, limit=query.limit)
    return json_response(page)


routes = routes_of(show_transcript)
