"""One Realtime socket: the Phoenix messages a client sends, answered as Supabase Realtime answers them.

* ``heartbeat`` on ``phoenix``: an ok reply.
* ``phx_join`` on ``realtime:<name>``: the token (``access_token`` in the payload, else the socket's ``apikey``)
  is checked, then an ok reply echoing each ``postgres_changes`` binding with its ``id``; a binding Realtime
  cannot serve is answered after the reply with a ``system`` error, the others with "Subscribed to PostgreSQL";
  with presence enabled a ``presence_state`` follows. A refused token, ``realtime:`` without a name, or a private
  channel (not served here) get an error reply with Realtime's reason. A second join of a joined topic closes
  the first.
* ``broadcast`` (JSON or binary) reaches the topic's other channels (and the sender's with ``self``), with an ok
  reply when the channel joined with ``ack``; ``presence`` ``track``/``untrack`` get an ok reply.
* ``access_token`` replaces the channel's token; a refused one shuts the channel (``system`` error, then
  ``phx_close``), as does the token expiring.
* ``phx_leave``: an ok reply, then ``phx_close``. Anything on a topic not joined: ``unmatched topic``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial
from typing import Any, Final

from ..hub.connection import TokenBucket
from ..logs import log_task_failure
from . import phoenix
from .bindings import Binding, BindingError, binding_id, parse_binding
from .channel import Channel, Outbox
from .service import SUBSCRIBED, Realtime
from .tokens import Claims, TokenRefused, Tokens

logger = logging.getLogger(__name__)

TOPIC_PREFIX: Final = "realtime:"
MAX_CHANNELS: Final = 100
"""Channels one socket may join, as Realtime's default ``max_channels_per_client``."""
EVENTS_PER_SECOND: Final = 100
EVENTS_BURST: Final = 200
"""A socket's message budget (Realtime's default ``max_events_per_second``); beyond it the channel a message was
for is shut with "Too many messages per second", as Realtime shuts it, and the message dropped."""
TOO_MANY: Final = "Too many messages per second"


def _flag(config: dict[str, Any], section: str, name: str) -> bool:
    value = config.get(section)
    return isinstance(value, dict) and value.get(name) is True


class Session:
    def __init__(self, realtime: Realtime, tokens: Tokens, vsn: phoenix.Vsn, apikey: str, outbox: Outbox) -> None:
        self.realtime = realtime
        self.tokens = tokens
        self.vsn = vsn
        self.apikey = apikey
        self.outbox = outbox
        self.channels: dict[str, Channel] = {}
        self.budget = TokenBucket(EVENTS_PER_SECOND, EVENTS_BURST)

    def _send(self, message: phoenix.Message) -> None:
        self.outbox(phoenix.encode(message, self.vsn))

    async def receive(self, frame: str | bytes) -> None:
        """Handle one frame; :class:`phoenix.ProtocolError` when it is not a Phoenix message."""
        if isinstance(frame, bytes):
            message = phoenix.decode_binary(frame)
        else:
            message = phoenix.decode_text(frame, self.vsn)
        await self.handle(message)

    async def handle(self, message: phoenix.Message) -> None:
        if message.topic == "phoenix" and message.event == "heartbeat":
            self._send(phoenix.reply(message, "ok"))
        elif not self.budget.take():
            logger.warning("realtime: a socket is over its message budget")
            if message.topic in self.channels:
                await self._shut(self.channels[message.topic], TOO_MANY)
        elif message.event == "phx_join":
            await self._join(message)
        elif message.topic not in self.channels:
            self._send(phoenix.reply(message, "error", {"reason": "unmatched topic"}))
        elif message.event == "phx_leave":
            channel = self.channels.pop(message.topic)
            await self._end(channel)
            self._send(phoenix.reply(message, "ok"))
            channel.close()
        elif message.event == "access_token":
            await self._refresh(self.channels[message.topic], message.payload.get("access_token"))
        elif message.event == "broadcast":
            await self._broadcast(self.channels[message.topic], message)
        elif message.event == "presence":
            await self._presence(self.channels[message.topic], message)
        else:  # Realtime logs an unexpected event and ignores it
            logger.info("realtime: ignored %r on %s", message.event[:50], message.topic[:100])

    async def close(self) -> None:
        """The socket is gone: leave every channel."""
        channels, self.channels = list(self.channels.values()), {}
        for channel in channels:
            await self._end(channel)

    # -- join ------------------------------------------------------------------------------------

    async def _join(self, message: phoenix.Message) -> None:
        topic, payload = message.topic, message.payload
        if not topic.startswith(TOPIC_PREFIX):
            self._send(phoenix.reply(message, "error", {"reason": "unmatched topic"}))
            return
        config = payload.get("config")
        config = config if isinstance(config, dict) else {}
        reason = None
        if topic == TOPIC_PREFIX:
            reason = "TopicNameRequired: You must provide a topic name"
        elif config.get("private") is True:
            name = topic.removeprefix(TOPIC_PREFIX)
            reason = f"Unauthorized: You do not have permissions to read from this Channel topic: {name}"
        elif topic not in self.channels and len(self.channels) >= MAX_CHANNELS:
            reason = "ChannelRateLimitReached: Too many channels"
        claims: Claims | None = None
        if reason is None:
            try:
                claims = await self.tokens.check(self._token(payload))
            except TokenRefused as exc:
                reason = str(exc)
        if reason is not None or claims is None:
            self._send(phoenix.reply(message, "error", {"reason": reason}))
            return
        previous = self.channels.pop(topic, None)
        if previous is not None:  # Phoenix closes a duplicate join of the same topic
            await self._end(previous)
            previous.close()
        presence = config.get("presence")
        presence = presence if isinstance(presence, dict) else {}
        channel = Channel(topic, message.join_ref or message.ref, claims, self.vsn, self.outbox)
        channel.self_broadcast = _flag(config, "broadcast", "self")
        channel.ack_broadcast = _flag(config, "broadcast", "ack")
        channel.presence_enabled = presence.get("enabled") is True
        if isinstance(presence.get("key"), str) and presence["key"]:
            channel.presence_key = presence["key"]
        channel.shut = partial(self._shut, channel)
        echoes, refused = self._bindings(channel, config.get("postgres_changes"))
        self.channels[topic] = channel
        self._schedule_expiry(channel)
        await self.realtime.attach(channel)
        response: dict[str, Any] = {"postgres_changes": echoes} if echoes else {}
        self._send(phoenix.reply(message, "ok", response))
        for problem in refused:
            channel.system("error", problem, "postgres_changes")
        if channel.bindings:
            channel.system("ok", SUBSCRIBED, "postgres_changes")
        if channel.presence_enabled:
            channel.push("presence_state", self.realtime.presence_state(channel))

    def _token(self, payload: dict[str, Any]) -> str:
        token = payload.get("access_token") or payload.get("user_token")
        if not isinstance(token, str) or token.startswith("sb_"):
            return self.apikey
        return token

    @staticmethod
    def _bindings(channel: Channel, given: object) -> tuple[list[dict[str, Any]], list[str]]:
        """Each binding echoed with its id; the usable ones kept on the channel, the others' refusals returned."""
        echoes: list[dict[str, Any]] = []
        refused: list[str] = []
        for params in given if isinstance(given, list) else []:
            if params is None:
                continue
            try:
                binding: Binding = parse_binding(params)
            except BindingError as problem:
                refused.append(str(problem))
                echoes.append({**params, "id": binding_id(params)} if isinstance(params, dict) else {"id": 0})
                continue
            channel.bindings.append(binding)
            echoes.append(binding.echo())
        return echoes, refused

    # -- tokens ----------------------------------------------------------------------------------

    def _schedule_expiry(self, channel: Channel) -> None:
        if channel.expiry is not None:
            channel.expiry.cancel()
            channel.expiry = None
        if channel.claims.exp is None:
            return
        delay = max(0.0, channel.claims.exp - time.time())
        channel.expiry = asyncio.get_running_loop().call_later(delay, self._expire, channel)

    def _expire(self, channel: Channel) -> None:
        if self.channels.get(channel.topic) is channel:
            task = asyncio.get_running_loop().create_task(self._shut(channel, "Token has expired 0 seconds ago"))
            task.add_done_callback(partial(log_task_failure, logger))

    async def _refresh(self, channel: Channel, token: object) -> None:
        if not isinstance(token, str) or token.startswith("sb_") or token == channel.claims.token:
            return
        try:
            claims = await self.tokens.check(token)
        except TokenRefused as refused:
            await self._shut(channel, str(refused).split(": ", 1)[-1])
            return
        channel.claims = claims
        self._schedule_expiry(channel)

    async def _shut(self, channel: Channel, reason: str) -> None:
        """End a channel from the server side: a ``system`` error naming why, then ``phx_close``."""
        if self.channels.get(channel.topic) is not channel:
            return
        del self.channels[channel.topic]
        await self._end(channel)
        channel.system("error", reason)
        channel.close()

    async def _end(self, channel: Channel) -> None:
        if channel.expiry is not None:
            channel.expiry.cancel()
            channel.expiry = None
        await self.realtime.detach(channel)

    # -- broadcast and presence ------------------------------------------------------------------

    async def _broadcast(self, channel: Channel, message: phoenix.Message) -> None:
        event = message.payload.get("event")
        if isinstance(event, str):
            await self.realtime.broadcast(channel, event, message.payload.get("payload"))
        if channel.ack_broadcast:
            self._send(phoenix.reply(message, "ok"))

    async def _presence(self, channel: Channel, message: phoenix.Message) -> None:
        """Answered before the diffs go out, as Phoenix replies before its presence broadcast arrives."""
        event = str(message.payload.get("event", "")).lower()
        meta = message.payload.get("payload", {})
        if event not in ("track", "untrack"):
            self._send(phoenix.reply(message, "error", {"reason": f"unknown presence event {event[:50]!r}"}))
        elif event == "track" and not isinstance(meta, dict):
            self._send(phoenix.reply(message, "error", {"reason": "Presence track payload must be a map"}))
        else:
            self._send(phoenix.reply(message, "ok"))
            await (self.realtime.track(channel, meta) if event == "track" else self.realtime.untrack(channel))
