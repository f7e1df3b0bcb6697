"""The real ``sensay-hub`` command in a subprocess: zero-config serve, fail-fast settings, and migrate."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from server.store.migrate import available_migrations

from .databases import DatabaseFactory

BIN_DIR = Path(sys.executable).parent
SERVER = [sys.executable, "-m", "server"]
READY_TIMEOUT = 60.0
EXIT_TIMEOUT = 20.0


def clean_env(**extra: str) -> dict[str, str]:
    """The environment a new user has: a PATH and a HOME, and none of the service's settings."""
    # Built up rather than filtered down, so no DATABASE_/SENSAY_/SUPABASE_/REDIS_/JWT_ variable of the runner leaks in.
    env = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def applied_lines() -> list[str]:
    return [f"applied {m.version:03d}_{m.name}" for m in available_migrations()]


def test_console_script_is_installed_next_to_python() -> None:
    """pip installs a working `sensay-hub` console script into the same environment as the interpreter."""
    script = BIN_DIR / "sensay-hub"
    assert script.is_file(), f"{script} is missing: run pip install -e '.[test]'"
    assert os.access(script, os.X_OK)
    result = subprocess.run([str(script), "--help"], env=clean_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout and "migrate" in result.stdout


@dataclass
class Serving:
    process: subprocess.Popen[bytes]
    base_url: str
    data_dir: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """Send SIGTERM and return the exit code; fail if the process outlives EXIT_TIMEOUT."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve did not exit within {EXIT_TIMEOUT}s of SIGTERM:\n{self.output()}")


@contextmanager
def serving(tmp_path: Path, *args: str, **env: str) -> Iterator[Serving]:
    """Run `python -m server serve` as a new user would (only DATA_DIR, PORT and ``env`` set) until /readyz is 200."""
    data_dir = tmp_path / "data"
    port = int(args[args.index("--port") + 1]) if "--port" in args else free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*SERVER, "serve", *args],
            env=clean_env(**{"DATA_DIR": str(data_dir), "PORT": str(port), **env}),  # env may override PORT
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Serving(process, f"http://127.0.0.1:{port}", data_dir, log)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        with httpx.Client(base_url=server.base_url, timeout=5) as http:
            while True:
                assert process.poll() is None, f"serve exited with {process.returncode}:\n{server.output()}"
                try:
                    if http.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"not ready within {READY_TIMEOUT}s:\n{server.output()}"
                time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_serve_starts_with_zero_configuration_and_stops_on_sigterm(tmp_path: Path) -> None:
    """With only DATA_DIR and PORT, `serve` gets ready on embedded Postgres, serves auth, and stops on SIGTERM."""
    with serving(tmp_path) as server:
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            ready = http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {"status": "ready"}
            healthz = http.get("/healthz")
            assert healthz.status_code == 200
            assert healthz.json() == {"status": "ok"}

            credentials = {"email": "new-user@example.com", "password": "correct horse battery"}
            signup = http.post("/api/auth/signup", json=credentials)
            assert signup.status_code == 201, signup.text
            login = http.post("/api/auth/login", json=credentials)
            assert login.status_code == 200, login.text
            assert login.json()["access_token"]
        server.stop()

    output = server.output()
    # One start-up block instead of initdb's and pg_ctl's chatter.
    assert f"serving http://127.0.0.1:{server.base_url.rsplit(':', 1)[1]}" in output
    # The start-up block names the embedded server's version and binaries, so a stale PostgreSQL shows.
    assert re.search(r"embedded PostgreSQL \d+\.\d+ \(/\S+/bin\) in ", output), output
    assert "local replica" in output
    for noise in ("initdb", "Running commandline", "XDG_RUNTIME_DIR", "pg_ctl"):
        assert noise not in output, output

    data_dir = server.data_dir
    assert (data_dir / "pg" / "PG_VERSION").is_file()
    # A clean stop of the embedded server removes its pid file; a leftover would mean an orphaned postmaster.
    assert not (data_dir / "pg" / "postmaster.pid").exists(), server.output()
    secret = data_dir / "jwt-secret"
    assert secret.is_file()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(secret.read_text().strip()) >= 32


def test_serve_exits_0_after_a_graceful_sigterm_stop(tmp_path: Path) -> None:
    """SIGTERM (what Docker and Kubernetes send) ends `serve` with exit code 0 once shutdown is complete."""
    with serving(tmp_path) as server:
        code = server.stop()
    assert "Application shutdown complete" in server.output()
    assert code == 0, f"exit code {code}:\n{server.output()}"


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SERVER, *args], env=clean_env(**env), capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_bad_port_fails_fast_naming_the_variable(command: str) -> None:
    """PORT=abc stops the command at once with exit code 2 and a message naming PORT."""
    result = run_cli(command, PORT="abc")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "configuration error" in result.stderr
    assert "PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_database_url_is_named_but_never_echoed() -> None:
    """A non-PostgreSQL DATABASE_URL fails with exit code 2 naming DATABASE_URL, without printing the URL."""
    url = "mysql://admin:pa55-word-xyz@db.internal:3306/app"
    result = run_cli("serve", DATABASE_URL=url)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "DATABASE_URL" in result.stderr
    output = result.stdout + result.stderr
    assert url not in output
    assert "pa55-word-xyz" not in output
    assert "Traceback" not in result.stderr


async def run_migrate(env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *SERVER,
        "migrate",
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_migrate_applies_pending_migrations_then_reports_up_to_date(databases: DatabaseFactory) -> None:
    """`migrate` on an empty DATABASE_URL prints each migration it applies; a second run prints "up to date"."""
    env = clean_env(DATABASE_URL=await databases.empty())

    code, stdout, stderr = await run_migrate(env)
    assert code == 0, stderr
    assert stdout.splitlines() == applied_lines()

    code, stdout, stderr = await run_migrate(env)
    assert code == 0, stderr
    assert "applied" not in stdout
    assert "up to date" in stdout


async def test_migrate_without_database_url_migrates_the_embedded_database(tmp_path: Path) -> None:
    """With no DATABASE_URL, `migrate` migrates the embedded database in DATA_DIR and stops it again."""
    data_dir = tmp_path / "data"
    env = clean_env(DATA_DIR=str(data_dir))

    code, stdout, stderr = await run_migrate(env)
    assert code == 0, stderr
    assert stdout.splitlines() == applied_lines()
    assert (data_dir / "pg" / "PG_VERSION").is_file()

    code, stdout, stderr = await run_migrate(env)
    assert code == 0, stderr
    assert "up to date" in stdout
    assert not (data_dir / "pg" / "postmaster.pid").exists()


def test_version_prints_the_installed_version() -> None:
    """`sensay-hub --version` prints the package's version and exits 0."""
    from importlib.metadata import version

    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"sensay-hub {version('sensay-hub')}"


def test_serve_refuses_the_embedded_database_when_told_to() -> None:
    """With EMBEDDED_DATABASE=0 (as in the Docker image) and no DATABASE_URL, `serve` exits 2 and says what to set."""
    result = run_cli("serve", EMBEDDED_DATABASE="0")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "DATABASE_URL" in result.stderr and "EMBEDDED_DATABASE=1" in result.stderr
    assert "Traceback" not in result.stderr


async def test_serve_host_and_port_flags_override_the_environment(tmp_path: Path, databases: DatabaseFactory) -> None:
    """`serve --host 127.0.0.1 --port N` listens on N although PORT says otherwise."""
    port = free_port()
    env = {"DATABASE_URL": await databases.migrated(), "JWT_SECRET": "j" * 40, "PORT": str(free_port())}
    with serving(tmp_path, "--host", "127.0.0.1", "--port", str(port), **env) as server:
        assert server.base_url.endswith(f":{port}")
        server.stop()
