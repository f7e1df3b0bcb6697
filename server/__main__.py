"""``sensay-hub serve``, ``migrate``, ``backup``, ``restore`` and ``local-replica`` (also ``python -m server``)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Final

from . import logs
from .config import ConfigError, Settings
from .metrics import VERSION

if TYPE_CHECKING:
    from starlette.applications import Starlette


def _graceful_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _freeze_imports() -> None:
    """What is loaded by now lives as long as the process: keep it out of the collector's way, so that full
    collections (their cost grows with every live object, and a hub holds many) do not walk it again and again."""
    gc.collect()
    gc.freeze()


def worker_app() -> Starlette:
    """The app of one ``serve --workers`` process, built from the environment (uvicorn calls this in each)."""
    from .app import create_app

    app = create_app()
    _freeze_imports()
    return app


def workers_refused(settings: Settings, workers: int) -> str | None:
    """Why ``workers`` processes cannot share this configuration (``None`` when they can)."""
    if workers <= 1:
        return None
    if settings.database_url is None:
        return "--workers needs DATABASE_URL (the embedded database belongs to one process)"
    if settings.redis_url is None:
        return "--workers needs REDIS_URL (the processes share rooms, chats and logouts through Redis)"
    if settings.metrics_port is not None:
        return "--workers cannot share METRICS_PORT (scrape each process's /metrics instead)"
    return None


def serve(settings: Settings, workers: int = 1) -> None:
    """Serve until stopped; ``workers`` > 1 runs that many processes on one listening socket (uvicorn's)."""
    import uvicorn

    from .api.transport import BoundedH11Protocol
    from .app import create_app
    from .ws.transport import HubWebSocketProtocol

    # uvicorn drains, then re-raises the SIGTERM it caught; a completed graceful stop is a success (exit 0).
    signal.signal(signal.SIGTERM, _graceful_exit)

    if workers <= 1:
        _freeze_imports()
    else:
        from .app import prepare_shared_files

        prepare_shared_files(settings)  # made once here, not raced by the workers
    uvicorn.run(
        create_app(settings) if workers <= 1 else "server.__main__:worker_app",
        factory=workers > 1,  # each worker builds its app from the same environment
        workers=workers if workers > 1 else None,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=logs.log_config(settings.log_level, settings.log_format),
        access_log=settings.access_log,
        # h11 rather than httptools: h11 bounds an unfinished request line and headers, httptools does not.
        http=BoundedH11Protocol,  # h11 with the head bound exact (431 beyond it)
        h11_max_incomplete_event_size=settings.http_max_header_bytes,
        ws=HubWebSocketProtocol,  # websockets' Sans-I/O protocol with direct frame writes for the hub
        ws_max_size=settings.ws_max_frame_bytes,
        # Chat frames are small; a zlib context per socket would cost far more memory than it saves bandwidth.
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ws_heartbeat_interval,
        ws_ping_timeout=settings.ws_heartbeat_interval,
        proxy_headers=False,  # the app reads forwarding headers itself, from TRUSTED_PROXIES only (api/proxies.py)
        timeout_graceful_shutdown=15,
    )


async def _migrate(settings: Settings) -> int:
    from .store.embedded import embedded_postgres
    from .store.migrate import migrate

    if settings.database_url is not None:
        applied = await migrate((settings.database_session_url or settings.database_url).reveal())
    else:
        async with embedded_postgres(settings.data_dir) as dsn:
            applied = await migrate(dsn)
    for migration in applied:
        print(f"applied {migration.version:03d}_{migration.name}")
    if not applied:
        print("database is up to date")
    return 0


EXTERNAL_BACKUP: Final = (
    "DATABASE_URL is set: back up that database with its own tools, not this command (which handles the embedded "
    "database): pg_dump --format=custom and pg_restore of the server's major version or newer, or your provider's "
    "backups (Supabase: Database > Backups, point-in-time recovery)"
)


async def _backup(settings: Settings, command: str, file: Path) -> int:
    from .store.backup import BackupError, backup, restore
    from .store.embedded import EmbeddedPostgresError

    if settings.database_url is not None:
        print(f"sensay-hub {command}: {EXTERNAL_BACKUP}", file=sys.stderr)
        return 2
    try:
        if command == "backup":
            size = await backup(settings.data_dir, file)
            print(f"backed up the embedded database in {settings.data_dir} to {file} ({size:,} bytes)")
        else:
            await restore(settings.data_dir, file)
            print(f"restored {file} into the embedded database in {settings.data_dir}")
    except (BackupError, EmbeddedPostgresError) as exc:
        print(f"sensay-hub {command}: {exc}", file=sys.stderr)
        return 1
    return 0


def _local_replica(settings: Settings, host: str, port: int) -> int:
    from .sensay.local import run_local_replica

    if settings.sensay_api_key is not None:
        secret = settings.sensay_api_key.reveal()
    else:
        secret = secrets.token_urlsafe(24)
        print(f"local replica organization secret (SENSAY_API_KEY of the hub): {secret}", flush=True)
    signal.signal(signal.SIGTERM, _graceful_exit)
    run_local_replica(
        host=host,
        port=port,
        organization_secret=secret,
        word_delay=settings.local_replica_word_delay,
        log_level=settings.log_level,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sensay-hub", description="Real-time chat backend for Sensay replicas.")
    parser.add_argument("--version", action="version", version=f"sensay-hub {VERSION}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the server (embedded defaults when nothing is configured)")
    serve_parser.add_argument("--host", help="address to listen on (overrides HOST)")
    serve_parser.add_argument("--port", type=int, help="port to listen on (overrides PORT)")
    serve_parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY") or 1),
        help="processes serving the one port, sharing Redis and PostgreSQL (default WEB_CONCURRENCY or 1)",
    )
    commands.add_parser("migrate", help="apply database migrations to DATABASE_URL (or the embedded database)")
    backup_parser = commands.add_parser(
        "backup", help="dump the embedded database in DATA_DIR to FILE (consistent while hubs run)"
    )
    backup_parser.add_argument("file", type=Path, metavar="FILE", help="the archive to write (pg_dump's custom format)")
    restore_parser = commands.add_parser(
        "restore", help="load FILE (made by `backup`) into the embedded database of a fresh DATA_DIR"
    )
    restore_parser.add_argument("file", type=Path, metavar="FILE", help="an archive written by `sensay-hub backup`")
    replica_parser = commands.add_parser(
        "local-replica", help="serve the local replica alone (its secret: SENSAY_API_KEY, else one printed at start)"
    )
    replica_parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    replica_parser.add_argument("--port", type=int, default=8100, help="port to listen on (default 8100)")
    args = parser.parse_args(argv)
    env = None
    if args.command == "serve":
        overrides = {"HOST": args.host, "PORT": None if args.port is None else str(args.port)}
        overrides = {name: value for name, value in overrides.items() if value is not None}
        os.environ.update(overrides)  # the workers read their settings from the environment too
        env = dict(os.environ)
    try:
        settings = Settings.from_env(env)
    except ConfigError as exc:
        print(f"sensay-hub: configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    if args.command == "serve":
        refused = workers_refused(settings, args.workers)
        if refused is not None:
            print(f"sensay-hub: configuration error: {refused}", file=sys.stderr)
            return 2
        serve(settings, args.workers)
        return 0
    if args.command == "local-replica":
        return _local_replica(settings, args.host, args.port)
    if args.command in ("backup", "restore"):
        return asyncio.run(_backup(settings, args.command, args.file))
    return asyncio.run(_migrate(settings))


if __name__ == "__main__":
    sys.exit(main())
