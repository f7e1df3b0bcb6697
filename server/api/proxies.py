"""The client's address behind trusted proxies: ``Forwarded`` (RFC 7239) and ``X-Forwarded-For`` read one way.

Only a peer listed in ``TRUSTED_PROXIES`` may speak for a client; from anyone else both headers are ignored and
the peer is the client. From a trusted peer, the hops are read right to left and the first one that is not itself
a trusted proxy is the client (the "rightmost untrusted hop": entries further left were written by the client and
prove nothing). When a request carries both headers and they name different clients, one was written by the
client and nothing tells which: the request then counts as the proxy's own (such requests share one address, so
an attacker gains nothing by sending both). This is the one place that reads the headers: ``serve`` runs uvicorn
with ``proxy_headers=False``, and rate limits, socket caps, logs and ``/metrics`` all read the address set here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Final

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

FORWARDED: Final = b"forwarded"
X_FORWARDED_FOR: Final = b"x-forwarded-for"
X_FORWARDED_PROTO: Final = b"x-forwarded-proto"
_SCHEMES: Final = {"http": ("http", "ws"), "https": ("https", "wss")}


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 127.0.0.1"`` → networks; ``ValueError`` naming an entry that is not an address or network."""
    networks = []
    for entry in (part.strip() for part in text.split(",")):
        if entry:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
    return tuple(networks)


def _address(text: str) -> Address | None:
    """An address as a hop names it: bare, ``1.2.3.4:80``, ``[::1]``, ``"[::1]:80"``; ``None`` for anything else
    (``unknown``, an obfuscated ``_name``, garbage)."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def forwarded_hops(value: str) -> tuple[list[str], list[str]]:
    """The ``for=`` and ``proto=`` values of an RFC 7239 ``Forwarded`` header, left to right."""
    hops: list[str] = []
    protos: list[str] = []
    for element in value.split(","):
        for pair in element.split(";"):
            name, _, raw = pair.partition("=")
            name = name.strip().lower()
            if name == "for":
                hops.append(raw.strip().strip('"'))
            elif name == "proto":
                protos.append(raw.strip().strip('"').lower())
    return hops, protos


class TrustedProxies:
    """Which peers may name the client, and how the client is read from what they send."""

    def __init__(self, networks: Sequence[Network] = ()) -> None:
        self.networks = tuple(networks)

    def trusts(self, address: Address | None) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def client(self, peer: str, hops: Iterable[str]) -> str:
        """The rightmost hop that is not a trusted proxy (``peer`` itself when it is not trusted)."""
        current = peer
        if not self.trusts(_address(peer)):
            return peer
        for hop in reversed(list(hops)):
            address = _address(hop)
            if address is None:
                return current  # a trusted proxy named no usable address: the request is that proxy's own
            current = str(address)
            if not self.trusts(address):
                return current
        return current

    def resolve(self, peer: str, headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, str | None]:
        """``(client address, scheme the client used or None)`` for a request from ``peer`` with ``headers``."""
        if not self.networks or not self.trusts(_address(peer)):
            return peer, None
        forwarded: list[str] = []
        x_forwarded_for: list[str] = []
        protos: list[str] = []
        x_proto: list[str] = []
        for name, value in headers:
            text = value.decode("latin-1")
            if name == FORWARDED:
                hops, proto = forwarded_hops(text)
                forwarded += hops
                protos += proto
            elif name == X_FORWARDED_FOR:
                x_forwarded_for += [hop.strip() for hop in text.split(",")]
            elif name == X_FORWARDED_PROTO:
                x_proto += [part.strip().lower() for part in text.split(",")]
        if forwarded and x_forwarded_for:
            by_forwarded, by_x = self.client(peer, forwarded), self.client(peer, x_forwarded_for)
            return (by_forwarded, _last(protos or x_proto)) if by_forwarded == by_x else (peer, None)
        if forwarded:
            return self.client(peer, forwarded), _last(protos)
        if x_forwarded_for:
            return self.client(peer, x_forwarded_for), _last(x_proto)
        return peer, None


def _last(values: list[str]) -> str | None:
    return values[-1] if values else None


def was_forwarded(scope: Scope) -> bool:
    """Whether the request carries a forwarding header (from whomever): it did not start on this machine."""
    return any(name in (FORWARDED, X_FORWARDED_FOR) for name, _ in scope.get("headers", ()))


def apply(scope: Scope, proxies: TrustedProxies) -> None:
    """Rewrite ``scope`` in place (uvicorn's access log reads the same dict, so it logs the client too)."""
    if not proxies.networks or not scope.get("client"):
        return
    peer = scope["client"][0]
    client, proto = proxies.resolve(peer, scope["headers"])
    if client != peer:
        scope["client"] = (client, 0)
    if proto in _SCHEMES:
        http_scheme, ws_scheme = _SCHEMES[proto]
        scope["scheme"] = ws_scheme if scope["type"] == "websocket" else http_scheme
