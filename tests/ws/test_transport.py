"""The socket's writes: straight to the transport under `serve`'s protocol, through ASGI under any other."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from server.app import create_app
from server.config import Settings
from server.sensay.local import LocalReplica

from ..rooms.test_rooms import make_room
from ..utils import WsClient, connect, run_server, signup_and_login


@pytest.mark.parametrize("ws", ["hub", "websockets-sansio"])
async def test_a_room_message_reaches_every_socket_in_order(settings: Settings, replica: LocalReplica, ws: str) -> None:
    """Every member's sockets get the room's messages in the order sent, with our writer or plain uvicorn's."""
    config = {} if ws == "hub" else {"ws": ws}  # run_server defaults to serve's protocol
    async with run_server(create_app(settings, replica=replica), **config) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            alice = await signup_and_login(http, "alice-transport@example.com")
            bob = await signup_and_login(http, "bob-transport@example.com")
            room = (await make_room(http, alice, [bob]))["id"]
        async with (
            connect(url, alice["access_token"]) as sender,
            connect(url, bob["access_token"]) as tab_1,
            connect(url, bob["access_token"]) as tab_2,
        ):
            for client in (sender, tab_1, tab_2):
                await client.send({"type": "room.join", "id": "j", "room_id": room})
                await client.recv_until("room.presence")
            for n in range(5):
                await sender.send({"type": "room.send", "id": f"m{n}", "room_id": room, "content": f"message {n}"})
                await sender.recv_until("ack")

            async def users_messages(client: WsClient) -> list[str]:
                seen: list[str] = []
                while len(seen) < 5:
                    frame, _ = await client.recv_until("message")
                    if frame["message"]["sender"] == "user":
                        seen.append(frame["message"]["content"])
                return seen

            expected = [f"message {n}" for n in range(5)]
            assert await asyncio.gather(users_messages(tab_1), users_messages(tab_2)) == [expected, expected]
