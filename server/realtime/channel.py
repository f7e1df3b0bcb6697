"""One joined channel: a socket's subscription to a topic, with what it asked for at join."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from . import phoenix
from .bindings import Binding
from .tokens import Claims

Outbox = Callable[[str | bytes], None]
"""Queues one encoded frame for the socket; never blocks (the transport bounds and drains its queue)."""


@dataclass(eq=False)
class Channel:
    topic: str
    join_ref: str | None
    claims: Claims
    vsn: phoenix.Vsn
    outbox: Outbox
    bindings: list[Binding] = field(default_factory=list)
    self_broadcast: bool = False
    ack_broadcast: bool = False
    presence_key: str = field(default_factory=lambda: str(uuid.uuid1()))
    presence_enabled: bool = False
    presence_ref: str | None = None
    """The ref of this channel's tracked presence, if any."""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    expiry: asyncio.TimerHandle | None = None
    shut: Callable[[str], Awaitable[None]] | None = None
    """Ends the channel from the server side with a reason (set by the socket's session)."""

    @property
    def name(self) -> str:
        """The topic without ``realtime:``, as Realtime names the channel in ``system`` messages."""
        return self.topic.removeprefix("realtime:")

    def send(self, message: phoenix.Message) -> None:
        self.outbox(phoenix.encode(message, self.vsn))

    def push(self, event: str, payload: dict[str, Any]) -> None:
        """A server push on this channel (Realtime's fastlane sends them without refs)."""
        self.send(phoenix.push(self.topic, event, payload))

    def system(self, status: str, message: str, extension: str = "system") -> None:
        self.push("system", {"extension": extension, "status": status, "message": message, "channel": self.name})

    def close(self) -> None:
        """``phx_close`` with the join ref: the client's channel is closed."""
        self.send(phoenix.Message(self.topic, "phx_close", {}, self.join_ref, self.join_ref))

    def broadcast(self, event: str, payload: Any, raw: bytes | None) -> None:
        """Deliver a broadcast; raw bytes only reach V2 sockets (binary frames), as on Realtime."""
        if raw is not None:
            if self.vsn is phoenix.Vsn.V2:
                self.outbox(phoenix.encode_user_broadcast(self.topic, event, raw, json_payload=False))
            return
        self.push("broadcast", {"type": "broadcast", "event": event, "payload": payload})
