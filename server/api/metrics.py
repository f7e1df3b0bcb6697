"""``/metrics``: Prometheus' text format, for this machine or the holder of the service key.

Metrics carry no user data (labels are bounded: routes, frame types, statuses), but they do reveal traffic and
capacity, so the main port answers only loopback clients (a scraper beside the process, or a sidecar) and
requests with ``Authorization: Bearer <service key>``. ``METRICS_PORT`` serves them on a port of their own
without a key, for networks where only the scraper can reach that port.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from .guard import require_service_key
from .operation import Answer, operation, routes_of


@operation(
    "GET",
    "/metrics",
    "metrics",
    tag="meta",
    answers={200: Answer(str, "Prometheus' text exposition format.", media_type="text/plain")},
    security=("serviceKey",),
    security_optional=True,  # loopback clients need no key
    database=False,
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics (clients on this machine, or the service key)

    Clients on the loopback interface need no key; everyone else presents the service key as a bearer token.
    """
    require_service_key(request, loopback_ok=True)
    return Response(generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})


routes = routes_of(metrics)
