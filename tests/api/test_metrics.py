"""``/metrics`` over real HTTP: who may read it, and counters that move with real traffic."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

import httpx

from server.app import create_app
from server.config import Secret, Settings
from server.sensay.local import ADA_LOVELACE_UUID, LocalReplica

from ..conftest import bearer
from ..utils import connect, run_server, sample, scrape

SERVICE_KEY = "service-key-" + "k" * 32
OUTSIDER = {"X-Forwarded-For": "203.0.113.9"}  # uvicorn trusts the loopback proxy's forwarded address


async def test_metrics_answer_loopback_and_the_service_key_only(settings: Settings, replica: LocalReplica) -> None:
    """Loopback clients read /metrics; a client from elsewhere needs the service key (401 without or wrong)."""
    keyed = replace(settings, service_key=Secret(SERVICE_KEY))
    async with run_server(create_app(keyed, replica=replica)) as url, httpx.AsyncClient(base_url=url) as http:
        local = await http.get("/metrics")
        assert local.status_code == 200 and local.headers["content-type"].startswith("text/plain")
        assert "sensay_hub_build_info" in local.text
        assert (await http.get("/metrics", headers=OUTSIDER)).status_code == 401
        wrong = await http.get("/metrics", headers={**OUTSIDER, "Authorization": "Bearer " + "x" * 44})
        assert wrong.status_code == 401 and wrong.json()["code"] == "unauthorized"
        right = await http.get("/metrics", headers={**OUTSIDER, "Authorization": f"Bearer {SERVICE_KEY}"})
        assert right.status_code == 200


async def test_without_a_service_key_only_loopback_reads_metrics(http: httpx.AsyncClient) -> None:
    """With no service key configured, a remote client is refused whatever it sends."""
    refused = await http.get("/metrics", headers={**OUTSIDER, "Authorization": "Bearer anything"})
    assert refused.status_code == 401


async def test_metrics_port_serves_them_without_a_key(settings: Settings, replica: LocalReplica) -> None:
    """METRICS_PORT opens a listener of its own that answers /metrics."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with run_server(create_app(replace(settings, metrics_port=port), replica=replica)):
        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200 and "sensay_hub_http_requests_total" in response.text


async def test_http_requests_are_counted_by_route_template_and_status(
    server: str, http: httpx.AsyncClient, alice: dict
) -> None:
    """Requests count under their route template (never the raw id) with their status; unknown paths pool."""
    before = await scrape(server)
    task = (await http.post("/api/tasks", json={"description": "count me"}, headers=bearer(alice))).json()
    patched = await http.patch(f"/api/tasks/{task['id']}", json={"status": "completed"}, headers=bearer(alice))
    assert patched.status_code == 200
    assert (await http.get("/no/such/path")).status_code == 404
    after = await scrape(server)
    name = "sensay_hub_http_requests_total"
    template = {"method": "PATCH", "route": "/api/tasks/{task_id}", "status": "200"}
    assert sample(after, name, **template) == sample(before, name, **template) + 1
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert sample(after, name, **unmatched) == sample(before, name, **unmatched) + 1
    assert not any(task["id"] in str(labels) for _, labels in after)
    assert sample(after, "sensay_hub_http_request_duration_seconds_count", method="PATCH", route=template["route"]) >= 1


async def test_socket_traffic_moves_the_hub_backend_and_feed_metrics(
    server: str, http: httpx.AsyncClient, alice: dict
) -> None:
    """A chat turn and a task change over a real socket move connections, frames, Sensay, broker, pool and feed."""
    before = await scrape(server)
    async with connect(server, alice["access_token"]) as tab:
        during = await scrape(server)
        assert sample(during, "sensay_hub_ws_connections", state="open") >= 1
        await tab.send({"type": "chat.send", "id": "m-1", "replica_id": ADA_LOVELACE_UUID, "content": "hello"})
        while True:
            frame = await tab.recv()
            if frame["type"] == "message" and frame["message"]["sender"] == "replica":
                break
        assert (await http.post("/api/tasks", json={"description": "fed"}, headers=bearer(alice))).status_code == 201
        await tab.recv_until("change")
    open_during = sample(during, "sensay_hub_ws_connections", state="open")
    async with asyncio.timeout(5):
        while sample(after := await scrape(server), "sensay_hub_ws_connections", state="open") != open_during - 1:
            await asyncio.sleep(0.02)  # the server notices the close on its own schedule

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("sensay_hub_ws_frames_sent_total", type="hello") == 1
    assert moved("sensay_hub_ws_frames_sent_total", type="ack") == 1
    assert moved("sensay_hub_ws_frames_sent_total", type="reply.delta") >= 1
    assert moved("sensay_hub_ws_frames_sent_total", type="change") == 1
    assert moved("sensay_hub_ws_frames_received_total", type="chat.send") == 1
    assert moved("sensay_hub_reply_seconds_count", kind="chat", outcome="stored") == 1
    assert moved("sensay_hub_reply_first_delta_seconds_count", kind="chat", outcome="stored") == 1
    chat = {"method": "POST", "endpoint": "/v1/replicas/{replicaUUID}/chat/completions", "status": "200"}
    assert moved("sensay_hub_sensay_requests_total", **chat) == 1
    assert moved("sensay_hub_broker_publishes_total", backend="memory") >= 3
    assert moved("sensay_hub_hub_deliveries_total", channel="user") >= 3
    assert moved("sensay_hub_change_feed_changes_total", table="tasks", op="INSERT") == 1
    assert moved("sensay_hub_change_feed_lag_seconds_count", backend="postgres") == 1
    assert moved("sensay_hub_db_pool_acquire_seconds_count") >= 2
    assert (
        sample(after, "sensay_hub_ws_connections", state="open")
        == sample(during, "sensay_hub_ws_connections", state="open") - 1
    )
    assert sample(after, "sensay_hub_db_pool_max_connections") >= 1
    assert ("sensay_hub_ws_send_queue_frames", ()) in after
