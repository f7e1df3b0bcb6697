"""``python3 -m tests``: the one test command, on a machine with only Python >= 3.11 (and root or sudo for apt-get).

1. builds a virtualenv (``.venv`` unless ``--venv``) from requirements.lock, then requirements-test.lock, then the
   package itself without dependencies, so nothing unlocked gets in (rebuilt whenever a lock or pyproject.toml
   changed; ``--floors`` instead installs the lowest versions pyproject.toml admits, see its comment);
2. installs what the tests need from the system when it is missing: redis-server, pgbouncer, Debian's chromium,
   Node 20+ with npm (apt-get), and the npm packages of protocol/typescript and tests/auth/js (``npm ci``);
3. names every part still missing, once, and stops before any test runs (exit 3);
4. starts a private Redis on a free port for the tests (``TEST_REDIS_URL``; each test keeps its keys apart by a
   prefix of its own) and stops it at the end; PostgreSQL is 127.0.0.1:5432 when it answers (``TEST_DATABASE_URL``),
   else an embedded one per session, and every test gets a database of its own;
5. runs ruff, ruff format --check, mypy --strict, then pytest on one xdist worker per CPU (``--workers``; the chaos
   tests stay on one worker, one after another: tests/conftest.py); arguments after ``--`` go to pytest.

``--repeat N`` runs the chaos, broker and workers tests N times in a row instead (the flakiness check).
Only the standard library is used here: this runs before the virtualenv exists.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ("requirements.lock", "requirements-test.lock")
NPM_PROJECTS = ("protocol/typescript", "tests/auth/js")
NPM_INSTALLED = "node_modules/.package-lock.json"  # what `npm ci` leaves, newer than the lockfile
REPEATED = ("tests/chaos", "tests/broker", "tests/test_workers.py")
CHROMIUM = Path("/usr/bin/chromium")  # the browser test drives Debian's build (tests/frontend/test_demo_page.py)
NODE_MAJOR = 20
MISSING = 3


def say(message: str) -> None:
    print(f"tests: {message}", flush=True)


def run(*command: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
    """Run a step; stop with its exit code if it fails."""
    result = subprocess.run([str(c) for c in command], cwd=cwd, env=env, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        say(f"failed (exit {result.returncode}): {' '.join(str(c) for c in command)}")
        sys.exit(result.returncode)


# --- the virtualenv ---------------------------------------------------------------------------------------------


def _digest(floors: bool, *names: str) -> str:
    digest = hashlib.sha256(b"floors" if floors else b"locked")
    for name in names:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def build_venv(venv: Path, *, floors: bool) -> Path:
    """The virtualenv's python, rebuilt unless it was built from these very locks (and, for ``floors``, this
    pyproject.toml); the package itself is installed again when only pyproject.toml changed."""
    python = venv / "bin" / "python"
    stamp = venv / ".sensay-hub-test-stamp"
    inputs = _digest(floors, "pyproject.toml") if floors else _digest(floors, *LOCKS)
    package = _digest(floors, "pyproject.toml")
    built, _, installed = (stamp.read_text() if stamp.is_file() else "").partition("\n")
    pip = (python, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off", "-q")
    if python.exists() and built == inputs:
        if installed != package:
            run(*pip, "--no-deps", "--no-build-isolation", "-e", ".")
            stamp.write_text(f"{inputs}\n{package}")
        say(f"virtualenv {venv} is up to date with the locks")
        return python
    say(f"building the virtualenv {venv}")
    run(sys.executable, "-m", "venv", "--clear", venv)
    if floors:
        # The floors: each direct dependency at the lowest version pyproject.toml admits (their own dependencies
        # at the newest), resolved by uv; not the locks.
        run(*pip, "uv")
        uv = venv / "bin" / "uv"
        run(uv, "pip", "install", "--python", python, "--resolution", "lowest-direct", "-e", ".[test]")
    else:
        for lock in LOCKS:
            run(*pip, "--require-hashes", "-r", lock)
        run(*pip, "--no-deps", "--no-build-isolation", "-e", ".")
        run(python, "-m", "pip", "check")
    stamp.write_text(f"{inputs}\n{package}")
    return python


# --- what the system must have ----------------------------------------------------------------------------------


def _which(name: str) -> str | None:
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"]))


def _node_major() -> int:
    if _which("node") is None:
        return 0
    out = subprocess.run(["node", "-p", "process.versions.node"], capture_output=True, text=True, check=False)
    return int(out.stdout.split(".")[0]) if out.returncode == 0 and out.stdout[:1].isdigit() else 0


def missing_parts() -> dict[str, str]:
    """Each missing part, by name, with the Debian package that brings it."""
    missing = {}
    if _which("redis-server") is None:
        missing["redis-server (the broker, rate-limit and chaos tests)"] = "redis-server"
    if _which("pgbouncer") is None:
        missing["pgbouncer (the transaction-pooler test)"] = "pgbouncer"
    if not CHROMIUM.exists():
        missing[f"{CHROMIUM} (the demo page's browser test)"] = "chromium"
    if _node_major() < NODE_MAJOR:
        missing[f"Node {NODE_MAJOR}+ (the TypeScript client's and supabase-js tests)"] = "nodejs"
    if _which("npm") is None:
        missing["npm (installs the Node tests' packages from their lockfiles)"] = "npm"
    return missing


def _as_root(*command: str) -> bool:
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            return False
        command = ("sudo", "-n", *command)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(command, env=env, stdin=subprocess.DEVNULL, check=False).returncode == 0


def install_system_parts() -> None:
    missing = missing_parts()
    if not missing or shutil.which("apt-get") is None:
        return
    packages = sorted(set(missing.values()))
    say(f"installing with apt-get: {' '.join(packages)}")
    if not (_as_root("apt-get", "update", "-qq") and _as_root("apt-get", "install", "-y", "-qq", *packages)):
        say("apt-get could not install them (root or passwordless sudo is needed)")


def install_npm_packages() -> None:
    """``npm ci`` in each Node project whose installed packages are missing or older than its lockfile."""
    if _which("npm") is None:
        return
    for project in NPM_PROJECTS:
        directory = ROOT / project
        installed, lock = directory / NPM_INSTALLED, directory / "package-lock.json"
        if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
            say(f"npm ci in {project}")
            run("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error", cwd=directory)


def check_everything_is_there() -> None:
    missing = list(missing_parts())
    missing += [f"npm packages of {p} (npm ci)" for p in NPM_PROJECTS if not (ROOT / p / NPM_INSTALLED).exists()]
    if missing:
        say("missing, so no test was run:")
        for part in missing:
            print(f"  - {part}", flush=True)
        sys.exit(MISSING)


# --- a private Redis --------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of this run only, without persistence, on a free port; stopped on the way out."""
    port = _free_port()
    options = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = subprocess.Popen(
        [_which("redis-server") or "redis-server", *options],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not _pong(port):
            if server.poll() is not None or time.monotonic() > deadline:
                say(f"redis-server did not answer on port {port}")
                sys.exit(MISSING)
            time.sleep(0.05)
        say(f"private redis on 127.0.0.1:{port}")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --- the command ------------------------------------------------------------------------------------------------


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 -m tests", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv", help="the virtualenv to build (default .venv)")
    parser.add_argument("--repeat", type=int, metavar="N", help="run the chaos, broker and workers tests N times")
    parser.add_argument("--floors", action="store_true", help="lowest direct versions pyproject.toml admits")
    parser.add_argument("--no-lint", action="store_true", help="skip ruff and mypy")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="pytest processes running tests side by side (default: one per CPU; 1 runs them in one process)",
    )
    parser.add_argument("pytest_args", nargs="*", help="arguments for pytest (after --)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    # A stopped run (CI's end, `kill`) unwinds like Ctrl-C: the private Redis is stopped and pytest is killed,
    # instead of both living on without their parent.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if sys.version_info < (3, 11):  # noqa: UP036 (this runs under any python3, not only the package's)
        say(f"Python 3.11 or newer is needed, this is {sys.version.split()[0]}")
        return MISSING
    python = build_venv(args.venv.resolve(), floors=args.floors)
    install_system_parts()
    install_npm_packages()
    check_everything_is_there()
    bin_dir = python.parent
    if not args.no_lint and args.repeat is None:
        run(bin_dir / "ruff", "check", ".")
        run(bin_dir / "ruff", "format", "--check", ".")
        run(bin_dir / "mypy", "--strict", "server", "protocol")
    with private_redis() as redis_url:
        env = {**os.environ, "TEST_REDIS_URL": redis_url}
        pytest = [str(python), "-m", "pytest"]
        if args.repeat is None:
            parallel = ["-n", str(args.workers), "--dist", "loadgroup"] if args.workers > 1 else []
            return subprocess.run([*pytest, *parallel, *args.pytest_args], cwd=ROOT, env=env, check=False).returncode
        failed = 0
        for n in range(1, args.repeat + 1):
            started = time.monotonic()
            code = subprocess.run([*pytest, "-q", *REPEATED, *args.pytest_args], cwd=ROOT, env=env, check=False)
            failed += code.returncode != 0
            say(f"repeat {n}/{args.repeat}: exit {code.returncode} in {time.monotonic() - started:.0f} s")
        say(f"{args.repeat} runs of {' '.join(REPEATED)}: {failed} failed")
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
