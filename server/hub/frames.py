"""Stored records as protocol frames."""

from __future__ import annotations

from protocol import MessageFrame, StoredMessage, chat_stream, room_stream

from ..store.records import Message, RoomMessage


def stored_message(message: Message) -> StoredMessage:
    return StoredMessage(
        id=str(message.id),
        sender=message.sender,
        content=message.message,
        created_at=message.timestamp.isoformat(),
        user_id=str(message.user_id) if message.sender == "user" else None,
        replica_id=message.replica_id,
        client_id=message.client_id,
        reply_to=str(message.reply_to) if message.reply_to else None,
    )


def message_frame(message: Message) -> MessageFrame:
    return MessageFrame(stream=chat_stream(message.replica_id), seq=message.seq, message=stored_message(message))


def stored_room_message(message: RoomMessage) -> StoredMessage:
    return StoredMessage(
        id=str(message.id),
        sender=message.sender,
        content=message.message,
        created_at=message.created_at.isoformat(),
        user_id=str(message.user_id) if message.user_id else None,
        replica_id=message.replica_id,
        client_id=message.client_id,
        reply_to=str(message.reply_to) if message.reply_to else None,
    )


def room_message_frame(message: RoomMessage) -> MessageFrame:
    return MessageFrame(stream=room_stream(str(message.room_id)), seq=message.seq, message=stored_room_message(message))
