import json
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest

from protocol import CLIENT_FRAME_TYPES, SERVER_FRAME_TYPES, CloseCode, ErrorCode
from protocol.__main__ import main
from protocol.export import ASYNCAPI_FILE, JSON_SCHEMA_FILE, SCHEMA_DIR, asyncapi, export, json_schema, rendered_files

from .samples import CLIENT_SAMPLES, SERVER_SAMPLES
from .test_codec_errors import BAD_FRAMES


def test_checked_in_schemas_are_up_to_date() -> None:
    for name, content in rendered_files().items():
        assert (SCHEMA_DIR / name).read_text(encoding="utf-8") == content, (
            f"{name} is stale: run `python -m protocol export`"
        )
    assert export(check=True) == []


def test_rendering_is_deterministic() -> None:
    first = rendered_files()
    assert rendered_files() == first
    for content in first.values():
        assert content.endswith("}\n")
        assert json.dumps(json.loads(content), indent=2, sort_keys=True, ensure_ascii=False) + "\n" == content


def test_export_writes_then_check_passes(tmp_path: Path) -> None:
    assert main(["export", "--check", "--out", str(tmp_path)]) == 1
    assert not any(tmp_path.iterdir())
    written = export(tmp_path)
    assert sorted(path.name for path in written) == sorted([ASYNCAPI_FILE, JSON_SCHEMA_FILE])
    assert export(tmp_path) == []
    assert main(["export", "--check", "--out", str(tmp_path)]) == 0
    (tmp_path / ASYNCAPI_FILE).write_text("{}\n", encoding="utf-8")
    assert export(tmp_path, check=True) == [tmp_path / ASYNCAPI_FILE]
    assert (tmp_path / ASYNCAPI_FILE).read_text(encoding="utf-8") == "{}\n"


def _validator(union: str) -> jsonschema.Draft202012Validator:
    schema = {key: value for key, value in json_schema().items() if key != "anyOf"}
    schema["$ref"] = f"#/$defs/{union}"
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_json_schema_accepts_sample_frames() -> None:
    client, server = _validator("ClientFrame"), _validator("ServerFrame")
    for frame in CLIENT_SAMPLES:
        client.validate(json.loads(msgspec.json.encode(frame)))
    for frame in SERVER_SAMPLES:
        server.validate(json.loads(msgspec.json.encode(frame)))


@pytest.mark.parametrize(
    "bad",
    [bad for bad in BAD_FRAMES if bad.code is not ErrorCode.INVALID_JSON],
    ids=lambda bad: bad.name,
)
def test_json_schema_rejects_what_the_decoder_rejects(bad: Any) -> None:
    assert not _validator("ClientFrame").is_valid(json.loads(bad.data))


def test_json_schema_rejects_unknown_server_values() -> None:
    server = _validator("ServerFrame")
    assert not server.is_valid({"type": "error", "code": "oops", "message": "x"})
    assert not server.is_valid({"type": "change", "table": "users", "op": "INSERT"})


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    if isinstance(node, dict) and set(node) == {"$ref"}:
        return _resolve(document, node["$ref"])
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


@pytest.mark.parametrize("build", [json_schema, asyncapi])
def test_every_ref_resolves(build: Any) -> None:
    document = build()
    for ref in _refs(document):
        _resolve(document, ref)


def test_asyncapi_names_every_frame_type() -> None:
    doc = asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    assert doc["channels"]["ws"]["address"] == "/ws"
    operations = doc["operations"]
    assert set(operations) == {"sendFrames", "receiveFrames"}

    def names(operation: str) -> set[str]:
        return {_resolve(doc, message["$ref"])["name"] for message in operations[operation]["messages"]}

    assert operations["receiveFrames"]["action"] == "receive"
    assert names("receiveFrames") == set(CLIENT_FRAME_TYPES)
    assert operations["sendFrames"]["action"] == "send"
    assert names("sendFrames") == set(SERVER_FRAME_TYPES)
    for message in doc["components"]["messages"].values():
        assert _resolve(doc, message["payload"]["$ref"])["properties"]["type"] == {"enum": [message["name"]]}


def test_asyncapi_documents_codes_and_auth() -> None:
    doc = asyncapi()
    info = doc["info"]
    assert set(info["x-close-codes"]) == {str(code.value) for code in CloseCode}
    assert set(info["x-error-codes"]) == {code.value for code in ErrorCode}
    for code in CloseCode:
        assert f"| {code.value} | `{code.name}` |" in info["description"]
    for code in ErrorCode:
        assert f"| `{code.value}` |" in info["description"]
    schemes = doc["components"]["securitySchemes"]
    assert {(scheme.get("in"), scheme.get("name")) for scheme in schemes.values()} == {
        ("header", "Sec-WebSocket-Protocol"),
        ("query", "access_token"),
        (None, None),
    }
    assert len(doc["servers"]["hub"]["security"]) == 3
