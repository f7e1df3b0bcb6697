"""The one error table: every domain error has a code both transports can answer with, every code is used, and
the README's table says what the code does."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import server.errors
from protocol import ErrorCode
from server.errors import ERROR_TABLE, DomainError, error_code

ROOT = Path(__file__).resolve().parent.parent


def domain_errors() -> list[type[DomainError]]:
    return [c for _, c in inspect.getmembers(server.errors, inspect.isclass) if issubclass(c, DomainError)]


def test_every_domain_error_answers_over_rest() -> None:
    """Each class maps to a code with an HTTP status (services' errors reach REST callers too)."""
    for cls in domain_errors():
        code = error_code(cls.__new__(cls))  # the code depends on the class alone; some need more than a detail
        assert code.http_status is not None, f"{cls.__name__} -> {code} has no HTTP status"


def test_a_class_takes_its_nearest_listed_base_code() -> None:
    """Unlisted subclasses inherit their code; the table lists only classes of server.errors."""
    assert error_code(server.errors.InvalidRefreshToken("x")) is ErrorCode.INVALID_REFRESH_TOKEN
    assert error_code(server.errors.SessionRevoked("x")) is ErrorCode.UNAUTHORIZED
    assert error_code(server.errors.Conflict("x")) is ErrorCode.INTERNAL_ERROR, "a group, never raised itself"
    assert set(ERROR_TABLE) <= set(domain_errors())


def test_every_code_is_used() -> None:
    """A code is in the table or named by the code that answers it (no code is documented but never sent)."""
    sources = "\n".join(p.read_text() for p in [*(ROOT / "server").rglob("*.py"), *(ROOT / "protocol").rglob("*.py")])
    named = set(re.findall(r"ErrorCode\.([A-Z_]+)", sources.replace("class ErrorCode", "")))
    unused = {code.name for code in ErrorCode} - named - {code.name for code in ERROR_TABLE.values()}
    assert unused == set()


def test_readme_lists_every_code_with_its_status_and_transport() -> None:
    """The README's error table has one row per code: HTTP status, whether the socket sends it, retryable."""
    readme = (ROOT / "README.md").read_text()
    rows = {
        match[1]: (match[2], match[3], match[4])
        for match in re.finditer(r"^\| `([a-z_]+)` \| (\S+) \| (yes|no) \| (yes|no) \|", readme, re.MULTILINE)
    }
    expected = {
        code.value: (
            str(code.http_status) if code.http_status else "-",
            "yes" if code.socket else "no",
            "yes" if code.retryable else "no",
        )
        for code in ErrorCode
    }
    assert rows == expected
