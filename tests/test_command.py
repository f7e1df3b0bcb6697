"""`python3 -m tests`, the one test command: what it does before any test runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import __main__ as command


def test_missing_parts_are_named_once_and_no_test_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a machine without Redis, Node or npm the command lists each by name, once, and exits 3."""
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing to run there
    with pytest.raises(SystemExit) as stopped:
        command.check_everything_is_there()
    assert stopped.value.code == command.MISSING == 3
    out = capsys.readouterr().out
    assert "missing, so no test was run:" in out
    for part in ("redis-server (", f"Node {command.NODE_MAJOR}+ (", "npm ("):
        assert out.count(part) == 1, out


def test_ci_runs_exactly_the_test_command() -> None:
    """.ci/run calls `python3 -m tests`, checks that tests ran, then the quick benchmarks."""
    ci = (command.ROOT / ".ci" / "run").read_text()
    assert 'python3 -m tests --venv "$work/venv"' in ci
    assert "pytest ran no tests" in ci and '"$status" -eq 5' in ci
    assert "-m bench --quick" in ci


def test_no_test_uses_the_shared_redis() -> None:
    """Tests reach Redis through the `shared_redis` or `redis` fixtures (private servers), never the one at 6379,
    whose keys outlive the run (a re-run within minutes then met the last run's rate-limit counters)."""
    shared = [f"redis://{host}:{6379}" for host in ("127.0.0.1", "localhost")]
    offenders = [
        str(path.relative_to(command.ROOT))
        for path in (command.ROOT / "tests").rglob("*.py")
        if "node_modules" not in path.parts and any(address in path.read_text() for address in shared)
    ]
    assert offenders == []
