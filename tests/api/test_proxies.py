"""Trusted proxies are configured, not assumed: who may name the client, and what everything then reads."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
import websockets

from protocol import CloseCode
from server.api.proxies import TrustedProxies, parse_networks
from server.app import create_app
from server.config import ConfigError, Settings
from server.sensay.local import LocalReplica

from ..auth.gotrue_support import LOOPBACK, gotrue_client, gotrue_settings
from ..utils import run_server

PROXY = TrustedProxies(parse_networks("127.0.0.1, 10.0.0.0/8"))


@pytest.mark.parametrize(
    ("headers", "client"),
    [
        ([(b"x-forwarded-for", b"203.0.113.7")], "203.0.113.7"),
        ([(b"forwarded", b"for=203.0.113.7")], "203.0.113.7"),
        ([(b"forwarded", b'for="203.0.113.7:4711";proto=https')], "203.0.113.7"),
        ([(b"x-forwarded-for", b"2001:db8::1")], "2001:db8::1"),
        ([(b"forwarded", b'for="[2001:db8::1]:4711"')], "2001:db8::1"),
        # the client wrote the left entries; the rightmost one that is not a proxy of ours is the client
        ([(b"x-forwarded-for", b"127.0.0.1, 198.51.100.1, 10.1.2.3")], "198.51.100.1"),
        ([(b"forwarded", b"for=127.0.0.1, for=198.51.100.1;proto=http, for=10.1.2.3")], "198.51.100.1"),
        # both headers naming the same client agree; naming different ones, nobody is believed
        ([(b"forwarded", b"for=198.51.100.1"), (b"x-forwarded-for", b"198.51.100.1")], "198.51.100.1"),
        ([(b"forwarded", b"for=198.51.100.1"), (b"x-forwarded-for", b"192.0.2.44")], "127.0.0.1"),
        ([(b"forwarded", b"for=unknown")], "127.0.0.1"),
        ([], "127.0.0.1"),
    ],
)
def test_forwarded_and_x_forwarded_for_resolve_the_same_client(headers: list[tuple[bytes, bytes]], client: str) -> None:
    """From a trusted peer, both headers name the client the same way: the rightmost untrusted hop."""
    assert PROXY.resolve("127.0.0.1", headers)[0] == client


def test_an_untrusted_peer_names_only_itself() -> None:
    """A peer not in TRUSTED_PROXIES is the client, whatever it sends; with none configured, every peer is."""
    headers = [(b"x-forwarded-for", b"203.0.113.7"), (b"forwarded", b"for=203.0.113.7")]
    assert PROXY.resolve("192.0.2.1", headers) == ("192.0.2.1", None)
    assert TrustedProxies().resolve("127.0.0.1", headers) == ("127.0.0.1", None)


def test_trusted_proxies_setting_is_read_and_checked() -> None:
    """TRUSTED_PROXIES is empty by default, takes addresses and networks, and names a bad entry."""
    assert Settings.from_env({}).trusted_proxies == ()
    assert Settings.from_env({"TRUSTED_PROXIES": "10.0.0.0/8, ::1"}).trusted_proxies == ("10.0.0.0/8", "::1/128")
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES: 'nginx'"):
        Settings.from_env({"TRUSTED_PROXIES": "10.0.0.1,nginx"})


@pytest.mark.parametrize(
    "headers",
    [{"Forwarded": "for=203.0.113.7"}, {"X-Forwarded-For": "127.0.0.1"}, {"X-Forwarded-For": "203.0.113.7"}],
)
@pytest.mark.parametrize("trusted", [(), LOOPBACK])
async def test_metrics_need_the_key_for_anything_forwarded(
    settings: Settings, replica: LocalReplica, headers: dict[str, str], trusted: tuple[str, ...]
) -> None:
    """A request that came through a proxy (any forwarding header) is not "this machine", trusted proxy or not."""
    app = create_app(replace(settings, trusted_proxies=trusted), replica=replica)
    async with run_server(app) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/metrics")).status_code == 200
        assert (await http.get("/metrics", headers=headers)).status_code == 401


async def test_without_trusted_proxies_rotating_x_forwarded_for_evades_nothing(
    settings: Settings, replica: LocalReplica
) -> None:
    """By default loopback is no proxy: a new X-Forwarded-For per request still counts against the one address."""
    limited = gotrue_settings(settings, rate_limit_login="3/minute")
    async with run_server(create_app(limited, replica=replica)) as url, gotrue_client(url) as auth:
        statuses = []
        for n in range(4):
            body = {"email": f"guess{n}@example.com", "password": "wrong password"}
            headers = {"X-Forwarded-For": f"203.0.113.{n}", "Forwarded": f"for=198.51.100.{n}"}
            statuses.append((await auth.post("/token?grant_type=password", json=body, headers=headers)).status_code)
    assert statuses == [400, 400, 400, 429]


async def test_both_headers_name_one_client_for_limits_sockets_and_the_access_log(
    settings: Settings, replica: LocalReplica, capsys: pytest.CaptureFixture[str]
) -> None:
    """Behind a trusted proxy, Forwarded and X-Forwarded-For count as the same client for the login limit and the
    socket cap, and the access log names that client."""
    configured = gotrue_settings(
        settings, trusted_proxies=LOOPBACK, rate_limit_login="2/minute", ws_max_sockets_per_address=1
    )
    async with run_server(
        create_app(configured, replica=replica), log_level="info"
    ) as url:  # its access log at info, on stdout
        async with gotrue_client(url) as auth:
            body = {"email": "guess@example.com", "password": "wrong password"}
            for headers in ({"X-Forwarded-For": "203.0.113.7"}, {"Forwarded": 'for="203.0.113.7:1234"'}):
                assert (await auth.post("/token?grant_type=password", json=body, headers=headers)).status_code == 400
            third = await auth.post("/token?grant_type=password", json=body, headers={"X-Forwarded-For": "203.0.113.7"})
            assert third.status_code == 429
            other = await auth.post("/token?grant_type=password", json=body, headers={"Forwarded": "for=198.51.100.3"})
            assert other.status_code == 400
        socket_url = url.replace("http", "ws") + "/ws"
        async with websockets.connect(socket_url, additional_headers={"X-Forwarded-For": "203.0.113.8"}):
            async with websockets.connect(socket_url, additional_headers={"Forwarded": "for=203.0.113.8"}) as second:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await second.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == CloseCode.TOO_MANY_CONNECTIONS
            async with websockets.connect(socket_url, additional_headers={"Forwarded": "for=203.0.113.9"}) as third:
                await third.send('{"type": "ping", "id": "p"}')  # admitted: still open, waiting for auth
    access = [line.removeprefix("INFO:").strip() for line in capsys.readouterr().out.splitlines()]
    assert any(line.startswith("203.0.113.7:") for line in access), access
    assert not any(line.startswith("127.0.0.1:") and "/auth/v1/token" in line for line in access), access
