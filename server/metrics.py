"""Every Prometheus metric of the process, in the default registry (served at ``/metrics``).

Names follow Prometheus conventions (``sensay_hub_`` prefix, unit suffixes, ``_total`` counters) and every
label has a small fixed set of values: a route template, a frame type, a status code, never a user id.
Gauges of live state (pool connections, send queues) are read when scraped, from the pools and hubs
registered with :func:`watch_pool` and :func:`watch_hub`.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import Protocol

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

NAMESPACE = "sensay_hub"
_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SLOW = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

try:
    VERSION = version("sensay-hub")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0+unknown"

BUILD = Info("build", "The running version", namespace=NAMESPACE)
BUILD.info({"version": VERSION})

# HTTP
HTTP_REQUESTS = Counter(
    "http_requests", "HTTP requests answered, by route template", ["method", "route", "status"], namespace=NAMESPACE
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    namespace=NAMESPACE,
    buckets=_FAST,
)

# WebSocket connections and the hub
CONNECTIONS = Gauge("ws_connections", "Sockets by state", ["state"], namespace=NAMESPACE)
FRAMES_SENT = Counter("ws_frames_sent", "Frames written to sockets, by frame type", ["type"], namespace=NAMESPACE)
FRAMES_RECEIVED = Counter(
    "ws_frames_received",
    "Client frames decoded, by frame type (invalid ones as invalid)",
    ["type"],
    namespace=NAMESPACE,
)
CLOSES = Counter("ws_closes", "Sockets the server closed, by reason", ["reason"], namespace=NAMESPACE)
RATE_LIMITED = Counter(
    "rate_limited", "Frames and requests dropped by a rate limit, by limit", ["limit"], namespace=NAMESPACE
)
DELIVERIES = Counter(
    "hub_deliveries", "Payloads the hub handed to local sockets, by channel kind", ["channel"], namespace=NAMESPACE
)

# Replies
REPLY_FIRST_DELTA = Histogram(
    "reply_first_delta_seconds",
    "From starting a reply to its first streamed delta, by reply kind and outcome",
    ["kind", "outcome"],
    namespace=NAMESPACE,
    buckets=_SLOW,
)
REPLY_SECONDS = Histogram(
    "reply_seconds",
    "From starting a reply to its end (stored, or failed with the error code), by reply kind and outcome",
    ["kind", "outcome"],
    namespace=NAMESPACE,
    buckets=_SLOW,
)

# Backends
SENSAY_REQUESTS = Counter(
    "sensay_requests",
    "Requests to the Sensay API, by endpoint and status (or error)",
    ["method", "endpoint", "status"],
    namespace=NAMESPACE,
)
SENSAY_DURATION = Histogram(
    "sensay_request_duration_seconds",
    "Time until Sensay's response headers",
    ["endpoint"],
    namespace=NAMESPACE,
    buckets=_SLOW,
)
BROKER_PUBLISHES = Counter("broker_publishes", "Payloads published to the broker", ["backend"], namespace=NAMESPACE)
BROKER_GAPS = Counter(
    "broker_gaps",
    "Gaps after which sockets were told to resync (a reconnect, or another process's lost publishes)",
    ["backend"],
    namespace=NAMESPACE,
)
BROKER_PUBLISH_FAILURES = Counter(
    "broker_publish_failures",
    "Publishes that did not reach the broker (after retries, or while it was down); their channels resync",
    ["backend"],
    namespace=NAMESPACE,
)
PRESENCE_FALLBACKS = Counter(
    "presence_fallbacks",
    "Presence reads and writes Redis did not answer (this process's own view was used)",
    namespace=NAMESPACE,
)
POOL_ACQUIRE = Histogram(
    "db_pool_acquire_seconds", "Time spent waiting for a database connection", namespace=NAMESPACE, buckets=_FAST
)
FEED_CHANGES = Counter("change_feed_changes", "Row changes delivered", ["table", "op"], namespace=NAMESPACE)
FEED_LAG = Histogram(
    "change_feed_lag_seconds",
    "From the change's commit to its delivery to the hub",
    ["backend"],
    namespace=NAMESPACE,
    buckets=_FAST,
)
FEED_GAPS = Counter(
    "change_feed_gaps", "Times the change feed may have missed changes", ["backend"], namespace=NAMESPACE
)

FRAME_TYPE_PREFIX = '{"type":"'


def frame_type(text: str) -> str:
    """The ``type`` of an encoded server frame (the tag is encoded first), read without decoding."""
    if text.startswith(FRAME_TYPE_PREFIX):
        end = text.find('"', len(FRAME_TYPE_PREFIX))
        if 0 < end <= 40:
            return text[len(FRAME_TYPE_PREFIX) : end]
    return "other"


class PoolLike(Protocol):
    def get_size(self) -> int: ...
    def get_idle_size(self) -> int: ...
    def get_max_size(self) -> int: ...


class HubLike(Protocol):
    def queue_depths(self) -> Iterable[int]: ...


_pools: weakref.WeakSet[PoolLike] = weakref.WeakSet()
_hubs: weakref.WeakSet[HubLike] = weakref.WeakSet()


def watch_pool(pool: PoolLike) -> None:
    """Report this pool's connections (in use, idle, maximum) while it lives."""
    _pools.add(pool)


def watch_hub(hub: HubLike) -> None:
    """Report this hub's send queues while it lives."""
    _hubs.add(hub)


class _LiveState(Collector):
    """Gauges read at scrape time, summed over the watched pools and hubs."""

    def collect(self) -> Iterator[Metric]:
        pools = list(_pools)
        connections = GaugeMetricFamily(
            f"{NAMESPACE}_db_pool_connections", "Database pool connections by state", labels=["state"]
        )
        in_use = sum(p.get_size() - p.get_idle_size() for p in pools)
        connections.add_metric(["in_use"], in_use)
        connections.add_metric(["idle"], sum(p.get_idle_size() for p in pools))
        yield connections
        yield GaugeMetricFamily(
            f"{NAMESPACE}_db_pool_max_connections",
            "Most connections the pools may open",
            value=sum(p.get_max_size() for p in pools),
        )
        depths = [depth for hub in list(_hubs) for depth in hub.queue_depths()]
        yield GaugeMetricFamily(
            f"{NAMESPACE}_ws_send_queue_frames", "Frames waiting in sockets' send queues", value=sum(depths)
        )
        yield GaugeMetricFamily(
            f"{NAMESPACE}_ws_send_queue_max_frames", "The deepest send queue", value=max(depths, default=0)
        )

    def describe(self) -> Iterator[Metric]:
        return self.collect()


REGISTRY.register(_LiveState())
