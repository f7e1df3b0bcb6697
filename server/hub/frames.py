"""Stored records as protocol frames."""

from __future__ import annotations

from protocol import MessageFrame

from ..store.records import Message, RoomMessage


def message_frame(message: Message | RoomMessage) -> MessageFrame:
    return MessageFrame(message=message.wire())
