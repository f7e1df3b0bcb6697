"""The HTTP side of the Sensay client: the ``httpx.AsyncClient`` it is given, and per-endpoint metrics."""

from __future__ import annotations

import ipaddress
import time

import httpx

from .. import metrics

__all__ = ["build_http_client", "count"]


def build_http_client(base_url: str, *, timeout: float = 30.0) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` suited to :class:`SensayClient`: bounded pool, short connect, ``timeout`` per read."""
    host = httpx.URL(base_url).host
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32, keepalive_expiry=30.0),
        headers={"User-Agent": "sensay-hub/0.1"},
        # A proxy from the environment must never capture the loopback local replica.
        trust_env=not _is_loopback(host),
    )


def count(method: str, path: str, start: float, response: httpx.Response | None) -> None:
    """Count a request by endpoint template and status (``error`` when no response came), and time it."""
    parts = path.split("/")
    if len(parts) > 3 and parts[2] == "replicas":
        parts[3] = "{replicaUUID}"  # a label value per replica would be unbounded
    endpoint = "/".join(parts)
    status = str(response.status_code) if response is not None else "error"
    metrics.SENSAY_REQUESTS.labels(method, endpoint, status).inc()
    metrics.SENSAY_DURATION.labels(endpoint).observe(time.perf_counter() - start)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
