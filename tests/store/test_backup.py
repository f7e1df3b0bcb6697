"""`sensay-hub backup` while a hub on the embedded defaults takes traffic, and `sensay-hub restore` into a fresh
DATA_DIR: a hub on the restored directory has every message, task and ledger entry acked before the backup."""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from server.sensay.local import ADA_LOVELACE_UUID

from ..test_cli import SERVER, clean_env, serving

PASSWORD = "correct horse battery staple"
TOOL_TIMEOUT = 120.0
TRAFFIC_WAIT = 60.0


@dataclass
class Traffic:
    """What the hub acked, with when (monotonic seconds): chat messages and replies, tasks, $SNSY buys (amounts)."""

    messages: list[tuple[float, str]] = field(default_factory=list)
    tasks: list[tuple[float, str]] = field(default_factory=list)
    buys: list[tuple[float, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def acked(self) -> int:
        return len(self.messages) + len(self.tasks) + len(self.buys)


def post(http: httpx.Client, path: str, body: dict[str, object], stop: threading.Event) -> httpx.Response:
    """POST as a well-behaved client does: after a 429 (the REST write limit, 120 a minute, which a backup slowed by
    a loaded machine lets this loop reach), wait the ``Retry-After`` it names and send again, unless told to stop."""
    while True:
        answer = http.post(path, json=body)
        if answer.status_code != 429 or stop.wait(float(answer.headers["Retry-After"])):
            return answer


def talk(base_url: str, token: str, traffic: Traffic) -> None:
    """Send a chat message (answered when its reply is stored), make a task and buy tokens, until told to stop."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
        n = 0
        while not traffic.stop.is_set():
            n += 1
            sent = post(
                http, "/api/conversations", {"replica_id": ADA_LOVELACE_UUID, "content": f"note {n}"}, traffic.stop
            )
            if sent.status_code == 429:
                return  # told to stop while waiting
            assert sent.status_code == 201, sent.text
            exchange = sent.json()  # the message and the replica's reply, both stored
            traffic.messages += [
                (time.monotonic(), exchange["message"]["id"]),
                (time.monotonic(), exchange["reply"]["id"]),
            ]
            task = post(http, "/api/tasks", {"description": f"task {n}"}, traffic.stop)
            if task.status_code == 429:
                return
            assert task.status_code == 201, task.text
            traffic.tasks.append((time.monotonic(), task.json()["id"]))
            body = {"action": "buy", "params": {"amount": n}}
            bought = post(http, "/api/prototype/token-gated-memories/actions", body, traffic.stop)
            if bought.status_code == 429:
                return
            assert bought.status_code == 200, bought.text
            traffic.buys.append((time.monotonic(), n))


def cli(command: str, data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SERVER, command, *args],
        env=clean_env(DATA_DIR=str(data_dir), **env),
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def log_in(http: httpx.Client, email: str) -> str:
    answer = http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def every_page(http: httpx.Client, path: str, key: str, **params: str) -> list[dict[str, Any]]:
    """Every item of a listing paged by ``next_before`` (the traffic during a slow backup can fill several pages)."""
    items: list[dict[str, Any]] = []
    query: dict[str, str | int] = {**params, "limit": 200}
    while True:
        page = http.get(path, params=query)
        assert page.status_code == 200, page.text
        items += page.json()[key]
        if page.json()["next_before"] is None:
            return items
        query["before"] = page.json()["next_before"]


def test_a_backup_taken_under_traffic_restores_every_acked_message_task_and_ledger_entry(tmp_path: Path) -> None:
    (tmp_path / "live").mkdir()
    (tmp_path / "restored").mkdir()
    archive = tmp_path / "hub.dump"
    email = "backup@example.com"
    traffic = Traffic()
    with serving(tmp_path / "live") as hub, httpx.Client(base_url=hub.base_url, timeout=30) as http:
        signed_up = http.post("/api/auth/signup", json={"email": email, "password": PASSWORD})
        assert signed_up.status_code == 201, signed_up.text
        talker = threading.Thread(target=talk, args=(hub.base_url, log_in(http, email), traffic), daemon=True)
        talker.start()
        try:
            deadline = time.monotonic() + TRAFFIC_WAIT
            while traffic.acked() < 12:
                assert talker.is_alive() and time.monotonic() < deadline, "the hub did not take traffic"
                time.sleep(0.1)
            began = time.monotonic()
            made = cli("backup", hub.data_dir, str(archive))
            assert made.returncode == 0, made.stderr
            assert "backed up" in made.stdout
        finally:
            traffic.stop.set()
            talker.join(TRAFFIC_WAIT)
        assert not talker.is_alive()
        before = sum(1 for at, _ in traffic.messages if at < began)
        print(
            f"messages stored before the backup: {before}, during it: {sum(1 for at, _ in traffic.messages) - before}"
        )

    restored_dir = tmp_path / "restored" / "data"
    loaded = cli("restore", restored_dir, str(archive))
    assert loaded.returncode == 0, loaded.stderr
    with serving(tmp_path / "restored") as hub, httpx.Client(base_url=hub.base_url, timeout=30) as http:
        http.headers["Authorization"] = f"Bearer {log_in(http, email)}"
        history = every_page(http, "/api/conversations", "messages", replica_id=ADA_LOVELACE_UUID)
        tasks = http.get("/api/tasks").json()["tasks"]
        ledger = every_page(http, "/api/ledger", "entries")

    messages = {m["id"] for m in history}
    assert [mid for at, mid in traffic.messages if at < began and mid not in messages] == []
    assert [tid for at, tid in traffic.tasks if at < began and tid not in {t["id"] for t in tasks}] == []
    bought = {entry["amount"] for entry in ledger if entry["kind"] == "mint"}  # a buy mints
    assert [amount for at, amount in traffic.buys if at < began and amount not in bought] == []


def test_restore_refuses_a_data_dir_that_holds_a_database_and_both_refuse_an_external_one(tmp_path: Path) -> None:
    archive = tmp_path / "empty.dump"
    made = cli("backup", tmp_path / "data", str(archive))  # the first use makes (and migrates nothing in) the cluster
    assert made.returncode == 0, made.stderr
    migrated = cli("migrate", tmp_path / "data")
    assert migrated.returncode == 0, migrated.stderr
    refused = cli("restore", tmp_path / "data", str(archive))
    assert refused.returncode == 1
    assert "already holds a database: restore into a fresh DATA_DIR" in refused.stderr

    for command in ("backup", "restore"):
        external = cli(command, tmp_path / "other", str(archive), DATABASE_URL="postgresql://db.example:5432/app")
        assert external.returncode == 2, external.stderr
        assert "DATABASE_URL is set: back up that database with its own tools" in external.stderr
        assert not (tmp_path / "other").exists(), "nothing embedded was started"
