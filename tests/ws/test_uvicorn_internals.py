"""uvicorn's insides that server/ws/transport.py and server/sensay/local/server.py build on, checked loudly.

``HubWebSocketProtocol`` subclasses uvicorn's ``WebSocketsSansIOProtocol``, replaces its queue and writable event,
reads its attributes and overrides four of its methods; the embedded local replica server subclasses
``HttpToolsProtocol``, ``Config`` and ``Server``. None of that is uvicorn's public API, so pyproject.toml bounds
uvicorn below its next minor version, and these tests fail, naming what moved, as soon as an upgrade changes it.
After reviewing the subclass against the new uvicorn, update the fingerprints here.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import textwrap
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import uvicorn
import uvicorn._types
from packaging.requirements import Requirement
from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.websockets import websockets_sansio_impl
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from server.ws.transport import HubWebSocketProtocol, _Flag, _Inbox

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())

# What the subclass reads or replaces of the base's instance attributes.
ATTRIBUTES_READ = {
    "queue", "writable", "app_state", "request", "handshake_complete", "curr_msg_data_type", "close_sent",
    "frames", "conn", "client", "read_paused", "transport", "disconnected", "scope", "response",
}  # fmt: skip
# sha256 of the source of each base method the subclass overrides or calls (uvicorn 0.54.0).
REVIEWED = {
    "handle_connect": "fa2597da918de20a9fa756082386272aba079ac2d59cd7f642bf153a17e1ba61",
    "send": "560baa5c639d3a4cf0f4567501ee8777912f334eedf87d8dcb8c08bdfed9d444",
    "send_receive_event_to_app": "935390da9a9c065fbc41a88ece5dd3dd9fc54e2c9aeec04bcc56b8793e8798c1",
    "handle_parser_exception": "c9a2f0badacc6ba7cddaa87960e86b075798ff5e3f1b44951e825553f616b8f0",
}
OVERRIDDEN = {"handle_connect", "send", "send_receive_event_to_app"}


def _class(module: object, name: str) -> ast.ClassDef:
    tree = ast.parse(inspect.getsource(module))  # type: ignore[arg-type]
    return next(node for node in ast.walk(tree) if isinstance(node, ast.ClassDef) and node.name == name)


def _self_attributes(cls: ast.ClassDef, ctx: type[ast.expr_context]) -> set[str]:
    return {
        node.attr
        for node in ast.walk(cls)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
        and isinstance(node.ctx, ctx)
    }


def _uses_of(cls: ast.ClassDef, attribute: str) -> set[str]:
    """Which attributes the class uses of ``self.<attribute>``."""
    return {
        node.attr
        for node in ast.walk(cls)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == attribute
        and isinstance(node.value.value, ast.Name)
        and node.value.value.id == "self"
    }


def _fingerprint(function: object) -> str:
    return hashlib.sha256(textwrap.dedent(inspect.getsource(function)).encode()).hexdigest()  # type: ignore[arg-type]


def test_uvicorn_is_bounded_below_its_next_minor_version() -> None:
    """pyproject.toml admits the locked uvicorn and no later minor version, whose internals may differ."""
    requirement = next(Requirement(r) for r in PYPROJECT["project"]["dependencies"] if r.startswith("uvicorn"))
    installed = version("uvicorn")
    major, minor = (int(part) for part in installed.split(".")[:2])
    assert requirement.specifier.contains(installed), f"uvicorn {installed} is outside {requirement}"
    assert not requirement.specifier.contains(f"{major}.{minor + 1}.0"), f"{requirement} admits the next minor"


def test_the_asgi_type_names_imported_exist() -> None:
    for name in ("ASGIReceiveEvent", "ASGISendEvent"):
        assert hasattr(uvicorn._types, name), f"uvicorn._types.{name} is gone: see server/ws/transport.py"


def test_the_base_still_sets_every_attribute_the_subclass_reads() -> None:
    assigned = _self_attributes(_class(websockets_sansio_impl, "WebSocketsSansIOProtocol"), ast.Store)
    missing = ATTRIBUTES_READ - assigned
    assert not missing, f"WebSocketsSansIOProtocol no longer sets {sorted(missing)}: see server/ws/transport.py"


def test_the_replaced_queue_and_event_offer_all_that_uvicorn_uses() -> None:
    """The subclass swaps ``asyncio.Queue`` and ``asyncio.Event`` for leaner objects: uvicorn must need no more."""
    base = _class(websockets_sansio_impl, "WebSocketsSansIOProtocol")
    for attribute, replacement in (("queue", _Inbox), ("writable", _Flag)):
        used = _uses_of(base, attribute)
        lacking = {name for name in used if not hasattr(replacement, name)}
        assert not lacking, f"uvicorn now uses self.{attribute}.{sorted(lacking)}, which {replacement.__name__} lacks"


@pytest.mark.parametrize("name", sorted(REVIEWED))
def test_each_base_method_relied_on_is_the_one_reviewed(name: str) -> None:
    """A change to a base method the subclass overrides (and calls through super()) or calls fails here, by name."""
    assert (name in vars(HubWebSocketProtocol)) == (name in OVERRIDDEN), f"{name}: update OVERRIDDEN in this test"
    base = getattr(WebSocketsSansIOProtocol, name)
    assert _fingerprint(base) == REVIEWED[name], (
        f"uvicorn changed WebSocketsSansIOProtocol.{name}: review HubWebSocketProtocol.{name} against it, "
        "then update its fingerprint in this test"
    )


def test_the_embedded_server_s_hooks_exist() -> None:
    """server/sensay/local/server.py turns off the access log per protocol and leaves logging and signals alone."""
    http = _class(httptools_impl, "HttpToolsProtocol")
    assert "access_log" in _self_attributes(http, ast.Store) and "access_log" in _self_attributes(http, ast.Load)
    assert callable(uvicorn.Config.configure_logging)
    assert callable(uvicorn.Server.capture_signals)
