"""``sensay-hub serve`` and ``sensay-hub migrate`` (also ``python -m server``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from .config import ConfigError, Settings


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _graceful_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(settings: Settings) -> None:
    import uvicorn

    from .app import create_app

    # uvicorn drains, then re-raises the SIGTERM it caught; a completed graceful stop is a success (exit 0).
    signal.signal(signal.SIGTERM, _graceful_exit)

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        ws_max_size=settings.ws_max_frame_bytes,
        # Chat frames are small; a zlib context per socket would cost far more memory than it saves bandwidth.
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ws_heartbeat_interval,
        ws_ping_timeout=settings.ws_heartbeat_interval,
        proxy_headers=True,
        timeout_graceful_shutdown=15,
    )


async def _migrate(settings: Settings) -> int:
    from .store.embedded import embedded_postgres
    from .store.migrate import migrate

    if settings.database_url is not None:
        applied = await migrate(settings.database_url.reveal())
    else:
        async with embedded_postgres(settings.data_dir) as dsn:
            applied = await migrate(dsn)
    for migration in applied:
        print(f"applied {migration.version:03d}_{migration.name}")
    if not applied:
        print("database is up to date")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sensay-hub", description="Real-time chat backend for Sensay replicas.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the server (embedded defaults when nothing is configured)")
    commands.add_parser("migrate", help="apply database migrations to DATABASE_URL (or the embedded database)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"sensay-hub: configuration error: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings.log_level)
    if args.command == "serve":
        serve(settings)
        return 0
    return asyncio.run(_migrate(settings))


if __name__ == "__main__":
    sys.exit(main())
