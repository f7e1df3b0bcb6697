"""Paging, newest first: chat history, room messages, prototype records and the ledger."""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from protocol import StoredMessage

MAX_PAGE: Final = 200


Cursor = Annotated[
    int, msgspec.Meta(ge=1, le=2**62, description="The previous page's `next_before`: what comes before it.")
]


class PageQuery(msgspec.Struct, kw_only=True):
    before: Cursor | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE, description="Page size.")] = 50


class MessagePage(msgspec.Struct):
    """Messages newest first; `next_before`, when set, asks for the page before them."""

    messages: list[StoredMessage]
    next_before: int | None


def page_of(messages: list[StoredMessage], query: PageQuery, *, pages: bool = True) -> MessagePage:
    """The page answer: ``next_before`` is set when the page is full (and the listing pages by seq)."""
    full = pages and len(messages) == query.limit and len(messages) > 0
    return MessagePage(messages, messages[-1].seq if full else None)
