"""Contract tests: our client's requests and the local replica's answers, checked against Sensay's OpenAPI spec.

The spec (``openapi-subset-chat-resolved.json``, trimmed to the operations we use, every ``$ref`` resolved) is
OpenAPI 3.0: its schemas are converted to JSON Schema 2020-12 (``nullable``, boolean ``exclusiveMinimum``) and
checked with ``jsonschema``. Requests and responses are captured with httpx event hooks on the real code path.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from jsonschema import Draft202012Validator, FormatChecker

from server.sensay.client import SensayClient, build_http_client
from server.sensay.errors import SensayConflict, SensayNotFound
from server.sensay.local import (
    ADA_LOVELACE_UUID,
    SENSAY_GUIDE_UUID,
    SOCRATES_UUID,
    LocalReplica,
    StreamStyle,
)

from .conftest import SECRET

API_VERSION = "2025-03-25"
UNKNOWN_REPLICA = "00000000-0000-4000-8000-000000000000"
SPEC: dict[str, Any] = json.loads((Path(__file__).parent / "openapi-subset-chat-resolved.json").read_text())
USED_OPERATIONS = {
    ("POST", "/v1/users"),
    ("GET", "/v1/replicas"),
    ("POST", "/v1/replicas"),
    ("GET", "/v1/replicas/{replicaUUID}"),
    ("POST", "/v1/replicas/{replicaUUID}/chat/completions"),
    ("GET", "/v1/replicas/{replicaUUID}/chat/history"),
}


# OpenAPI 3.0 -> JSON Schema 2020-12


def to_json_schema(schema: Any) -> Any:
    """Convert one OpenAPI 3.0 schema object (recursively) into JSON Schema 2020-12."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = to_json_schema(value)
        elif key in ("anyOf", "oneOf", "allOf"):
            out[key] = [to_json_schema(sub) for sub in value]
        elif key not in ("nullable", "example", "exclusiveMinimum", "exclusiveMaximum") and not key.startswith("x-"):
            out[key] = value
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if schema.get(exclusive) is True and bound in out:
            out[exclusive] = out.pop(bound)
    if schema.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if "type" not in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    # jsonschema checks date-time only with an optional extra package; RFC 3339 with an offset is what we need.
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


@cache
def validator(schema_json: str) -> Draft202012Validator:
    schema = to_json_schema(json.loads(schema_json))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMATS)


def validate(schema: dict[str, Any], instance: Any, where: str) -> None:
    errors = sorted(validator(json.dumps(schema, sort_keys=True)).iter_errors(instance), key=str)
    assert not errors, f"{where}: " + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def find_operation(method: str, path: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The spec operation serving ``method path``: (template, operation, path parameters)."""
    for template, operations in SPEC["paths"].items():
        pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
        match = re.match(pattern, path)
        if match and method.lower() in operations:
            return template, operations[method.lower()], match.groupdict()
    raise AssertionError(f"{method} {path} is not an operation of the spec")


ERROR_SCHEMA = SPEC["paths"]["/v1/replicas"]["post"]["responses"]["400"]["content"]["application/json"]["schema"]


def response_schema(operation: dict[str, Any], status: int) -> dict[str, Any] | None:
    response = operation["responses"].get(str(status))
    if response is None:
        return None
    # Some documented errors (e.g. chat history 404) carry no schema: they share the common error shape.
    return response.get("content", {}).get("application/json", {}).get("schema", ERROR_SCHEMA)


# capture


@dataclass
class Exchange:
    request: httpx.Request
    response: httpx.Response | None = None


@dataclass
class Recorder:
    exchanges: list[Exchange] = field(default_factory=list)

    async def on_request(self, request: httpx.Request) -> None:
        self.exchanges.append(Exchange(request))

    async def on_response(self, response: httpx.Response) -> None:
        if response.headers.get("content-type", "").startswith("application/json"):
            await response.aread()
        for exchange in reversed(self.exchanges):
            if exchange.request is response.request:
                exchange.response = response
                break


def check_request(request: httpx.Request) -> tuple[str, str]:
    """Assert one request our client sent matches the spec; return its (method, template)."""
    method, path = request.method, request.url.path
    template, operation, path_params = find_operation(method, path)
    where = f"{method} {path}"
    assert request.headers["X-ORGANIZATION-SECRET"] == SECRET, where
    assert request.headers["X-API-Version"] == API_VERSION, where
    if (method, template) != ("POST", "/v1/users"):
        uuid.UUID(request.headers["X-USER-ID"])
    parameters = {(p["in"], p["name"]): p for p in operation.get("parameters", [])}
    for name, value in path_params.items():
        validate(parameters[("path", name)]["schema"], value, f"{where} path {name}")
    for name, value in request.url.params.multi_items():
        assert ("query", name) in parameters, f"{where}: undocumented query parameter {name}"
        schema = parameters[("query", name)]["schema"]
        validate(schema, int(value) if schema.get("type") == "integer" else value, f"{where} query {name}")
    if request.content:
        assert request.headers["Content-Type"] == "application/json", where
        body_schema = operation["requestBody"]["content"]["application/json"]["schema"]
        validate(body_schema, json.loads(request.content), f"{where} request body")
    else:
        assert "requestBody" not in operation or method == "GET", f"{where}: body missing"
    return method, template


def check_json_response(response: httpx.Response, *, documented: bool = True) -> dict[str, Any]:
    """Assert a JSON answer of the local replica matches the spec's schema for its status; return the body."""
    method, path, status = response.request.method, response.request.url.path, response.status_code
    _, operation, _ = find_operation(method, path)
    schema = response_schema(operation, status)
    where = f"{method} {path} -> {status}"
    if schema is None:
        assert not documented, f"{where}: status not documented in the spec"
        schema = ERROR_SCHEMA
    body = response.json()
    validate(schema, body, where)
    if status >= 400:
        assert body["success"] is False and body["request_id"] == response.headers["X-Request-ID"], where
    return body


# fixtures


@pytest_asyncio.fixture
async def raw(served: tuple[LocalReplica, str]) -> AsyncIterator[httpx.AsyncClient]:
    """A plain httpx client for requests our client would never send."""
    async with httpx.AsyncClient(base_url=served[1], trust_env=False) as client:
        yield client


@pytest_asyncio.fixture
async def user_id(raw: httpx.AsyncClient) -> str:
    user = str(uuid.uuid4())
    response = await raw.post("/v1/users", json={"id": user}, headers={"X-ORGANIZATION-SECRET": SECRET})
    assert response.status_code == 200
    return user


def headers(user: str | None = None, **extra: str) -> dict[str, str]:
    result = {"X-ORGANIZATION-SECRET": SECRET, "X-API-Version": API_VERSION}
    if user is not None:
        result["X-USER-ID"] = user
    return result | extra


# the client's traffic


async def test_client_traffic_matches_the_spec(served: tuple[LocalReplica, str], replica: LocalReplica) -> None:
    """Every request the client sends and every JSON answer the replica returns validates against the spec."""
    recorder = Recorder()
    async with build_http_client(served[1]) as http:
        http.event_hooks = {"request": [recorder.on_request], "response": [recorder.on_response]}
        client = SensayClient(http, organization_secret=SECRET, backoff_base=0.001, backoff_cap=0.005)
        user = str(uuid.uuid4())

        await client.ensure_user(user, "Grace Hopper (tester)")
        await SensayClient(http, organization_secret=SECRET).ensure_user(user)  # 409 path
        await client.list_replicas(user)
        await client.list_replicas(user, owner_id=user, slug="socrates", search="so", page=1, page_size=5)
        await client.get_replica(user, SOCRATES_UUID)
        created = await client.create_replica(
            user,
            name="Hypatia of Alexandria",
            slug=f"hypatia-{user[:8]}",
            short_description="Astronomer and mathematician",
            greeting="Shall we look at the stars?",
            purpose="Teaches geometry.",
            system_message="You are Hypatia.",
            model="gpt-4o",
            private=True,
            tags=("Science", "History"),
            suggested_questions=("What is a conic section?",),
        )
        await client.get_replica(user, created)
        await client.list_replicas(user, owner_id=user)
        with pytest.raises(SensayConflict):
            await client.create_replica(
                user, name="Copy", slug=f"hypatia-{user[:8]}", short_description="x", greeting="y"
            )

        await client.chat(user, ADA_LOVELACE_UUID, "What is the Analytical Engine?")
        await client.chat(user, created, "Tell me about Euclid", source="embed", skip_chat_history=True)
        styles: tuple[StreamStyle, ...] = ("data", "sse", "json")
        for style in styles:
            replica.stream_style = style
            async with aclosing(client.chat_stream(user, SENSAY_GUIDE_UUID, f"stream as {style}")) as stream:
                assert "".join([delta async for delta in stream])
        replica.fail_next(1, 500)
        replica.fail_next(1, 429, retry_after=0)
        await client.chat(user, SOCRATES_UUID, "after two failures")
        with pytest.raises(SensayNotFound):
            await client.chat(user, UNKNOWN_REPLICA, "hello?")
        history = await client.chat_history(user, SENSAY_GUIDE_UUID)
        assert len(history) == 6

    exercised = {check_request(exchange.request) for exchange in recorder.exchanges}
    assert exercised == USED_OPERATIONS
    statuses = set()
    for exchange in recorder.exchanges:
        assert exchange.response is not None
        statuses.add(exchange.response.status_code)
        if exchange.response.headers.get("content-type", "").startswith("application/json"):
            check_json_response(exchange.response)
    assert statuses >= {200, 201, 404, 409, 429, 500}


# the replica's rules


@pytest.mark.parametrize(
    ("header_set", "status"),
    [("none", 401), ("wrong-secret", 401), ("unknown-user", 401), ("no-user", 401), ("ok", 200)],
)
async def test_auth_rules(raw: httpx.AsyncClient, user_id: str, header_set: str, status: int) -> None:
    """Chat needs the right secret and a user created through POST /v1/users."""
    chosen = {
        "none": {},
        "wrong-secret": headers(user_id) | {"X-ORGANIZATION-SECRET": "nope"},
        "unknown-user": headers(str(uuid.uuid4())),
        "no-user": headers(),
        "ok": headers(user_id),
    }[header_set]
    response = await raw.post(
        f"/v1/replicas/{ADA_LOVELACE_UUID}/chat/completions", json={"content": "hi"}, headers=chosen
    )
    assert response.status_code == status
    check_json_response(response)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"content": ""}, 400),
        ({"content": "x" * 100_001}, 400),
        ({"content": "x" * 100_000}, 200),
        ({"content": "hi", "temperature": 0.3}, 400),
        ({"content": "hi", "source": "carrier-pigeon"}, 400),
        ({"content": "hi", "skip_chat_history": "yes"}, 400),
        ({"content": 42}, 400),
        ({}, 400),
        ({"content": "hi", "source": "telegram", "skip_chat_history": True}, 200),
    ],
)
async def test_chat_body_rules(raw: httpx.AsyncClient, user_id: str, body: dict[str, Any], status: int) -> None:
    """content must be 1..100000 characters; unknown fields and wrong types are 400."""
    response = await raw.post(f"/v1/replicas/{SOCRATES_UUID}/chat/completions", json=body, headers=headers(user_id))
    assert response.status_code == status
    answer = check_json_response(response)
    if status == 200:
        assert body["content"] in answer["content"]


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"content": "hi", "source": "carrier-pigeon"}, "$.source"),
        ({"content": "hi", "temperature": 0.3}, "temperature"),
        ({"content": ""}, "$.content"),
    ],
)
async def test_a_bad_chat_body_is_answered_with_what_is_wrong(
    raw: httpx.AsyncClient, user_id: str, body: dict[str, Any], names: str
) -> None:
    """The 400's message names the field at fault, as Sensay's validation errors do."""
    response = await raw.post(f"/v1/replicas/{SOCRATES_UUID}/chat/completions", json=body, headers=headers(user_id))
    assert response.status_code == 400
    answer = check_json_response(response)
    assert answer["error_code"] == "VALIDATION_ERROR" and names in answer["error"]


async def test_non_json_bodies_are_rejected(raw: httpx.AsyncClient, user_id: str) -> None:
    """A body that is not declared as JSON is 415; a malformed JSON body is 400."""
    chat = f"/v1/replicas/{SOCRATES_UUID}/chat/completions"
    as_text = await raw.post(
        chat, content=b'{"content":"hi"}', headers=headers(user_id, **{"Content-Type": "text/plain"})
    )
    assert as_text.status_code == 415
    check_json_response(as_text)
    user_as_form = await raw.post("/v1/users", data={"id": "form-user"}, headers=headers())
    assert user_as_form.status_code == 415
    check_json_response(user_as_form, documented=False)
    broken = await raw.post(
        chat, content=b'{"content":', headers=headers(user_id, **{"Content-Type": "application/json"})
    )
    assert broken.status_code == 400
    check_json_response(broken)


async def test_unknown_and_malformed_replica_ids(raw: httpx.AsyncClient, user_id: str) -> None:
    """An unknown replica is 404 on every replica operation; a malformed UUID is 400."""
    for method, suffix in (("GET", ""), ("GET", "/chat/history"), ("POST", "/chat/completions")):
        response = await raw.request(
            method, f"/v1/replicas/{UNKNOWN_REPLICA}{suffix}", json={"content": "hi"}, headers=headers(user_id)
        )
        assert response.status_code == 404, suffix
        check_json_response(response)
    malformed = await raw.get("/v1/replicas/not-a-uuid", headers=headers(user_id))
    assert malformed.status_code == 400
    check_json_response(malformed)


async def test_user_rules(raw: httpx.AsyncClient, user_id: str) -> None:
    """A taken id is 409, a name outside Sensay's characters is 400, an id-less user gets a generated id."""
    taken = await raw.post("/v1/users", json={"id": user_id}, headers=headers())
    assert taken.status_code == 409
    check_json_response(taken)
    bad_name = await raw.post("/v1/users", json={"id": str(uuid.uuid4()), "name": "<script>"}, headers=headers())
    assert bad_name.status_code == 400
    check_json_response(bad_name, documented=False)
    anonymous = await raw.post("/v1/users", json={"name": "No Id"}, headers=headers())
    assert anonymous.status_code == 200
    assert check_json_response(anonymous)["name"] == "No Id"


async def test_replica_rules(raw: httpx.AsyncClient, user_id: str) -> None:
    """Creating needs the required fields and no unknown ones; a private replica is hidden from other users."""
    body = {
        "name": "Secret Keeper",
        "slug": f"secret-{user_id[:8]}",
        "shortDescription": "Keeps secrets",
        "greeting": "Shh.",
        "ownerID": user_id,
        "llm": {},
        "private": True,
    }
    missing = await raw.post("/v1/replicas", json={k: v for k, v in body.items() if k != "llm"}, headers=headers())
    assert missing.status_code == 400
    check_json_response(missing)
    unknown = await raw.post("/v1/replicas", json=body | {"colour": "blue"}, headers=headers())
    assert unknown.status_code == 400
    check_json_response(unknown)
    created = await raw.post("/v1/replicas", json=body, headers=headers(user_id))
    assert created.status_code == 201
    replica_id = check_json_response(created)["uuid"]

    owner_view = await raw.get(f"/v1/replicas/{replica_id}", headers=headers(user_id))
    assert owner_view.status_code == 200
    check_json_response(owner_view)
    stranger = (await raw.post("/v1/users", json={}, headers=headers())).json()["id"]
    hidden = await raw.get(f"/v1/replicas/{replica_id}", headers=headers(stranger))
    assert hidden.status_code == 404
    listing = await raw.get("/v1/replicas", params={"page_size": 100}, headers=headers(stranger))
    assert replica_id not in {item["uuid"] for item in check_json_response(listing)["items"]}


async def test_list_paging(raw: httpx.AsyncClient) -> None:
    """page/page_size slice the sorted list, total counts all matches, and page=0 is 400."""
    first = check_json_response(await raw.get("/v1/replicas", params={"page": 1, "page_size": 2}, headers=headers()))
    second = check_json_response(await raw.get("/v1/replicas", params={"page": 2, "page_size": 2}, headers=headers()))
    assert len(first["items"]) == 2 and first["total"] == second["total"] >= 3
    assert not {i["uuid"] for i in first["items"]} & {i["uuid"] for i in second["items"]}
    zero = await raw.get("/v1/replicas", params={"page": 0}, headers=headers())
    assert zero.status_code == 400
    check_json_response(zero)


async def test_unknown_route_has_sensay_error_shape(raw: httpx.AsyncClient) -> None:
    """Even a path outside the API answers with Sensay's error body."""
    response = await raw.get("/v1/nothing-here", headers=headers())
    assert response.status_code == 404
    body = response.json()
    validate(ERROR_SCHEMA, body, "GET /v1/nothing-here")
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_nullable_conversion() -> None:
    """OpenAPI 3.0 nullable and boolean exclusiveMinimum become JSON Schema 2020-12."""
    assert to_json_schema({"type": "string", "nullable": True}) == {"type": ["string", "null"]}
    assert to_json_schema({"type": "integer", "minimum": 0, "exclusiveMinimum": True}) == {
        "type": "integer",
        "exclusiveMinimum": 0,
    }
    converted = to_json_schema({"properties": {"a": {"type": "object", "nullable": True, "x-beta": True}}})
    assert converted == {"properties": {"a": {"type": ["object", "null"]}}}


def test_date_time_format_is_checked() -> None:
    """created_at values are really checked, not skipped for want of a format package."""
    schema = {"type": "string", "format": "date-time"}
    validate(schema, "2024-09-24T09:09:55.66709+00:00", "valid")
    with pytest.raises(AssertionError):
        validate(schema, "yesterday", "invalid")


async def test_a_choice_question_is_answered_with_the_option_mentioned_most(
    raw: httpx.AsyncClient, user_id: str
) -> None:
    """A question ending in "Answer with exactly one of: ..." gets one option: the most mentioned, else the first."""

    async def ask(content: str) -> str:
        url = f"/v1/replicas/{ADA_LOVELACE_UUID}/chat/completions"
        response = await raw.post(url, json={"content": content}, headers=headers(user_id))
        assert response.status_code == 200
        return str(response.json()["content"])

    agreed = await ask(
        "Socrates: I agree.\nGuide: We agree, no need to disagree.\nAnswer with exactly one of: DISAGREE | AGREE"
    )
    assert agreed.startswith("AGREE.")
    assert (await ask("Nothing to go on.\nAnswer with exactly one of: NOT YET | REACHED")).startswith("NOT YET.")
    named = await ask(
        "Sensay Guide said it best; the guide, truly.\nAnswer with exactly one of: Socrates | Sensay Guide"
    )
    assert named.startswith("Sensay Guide.")
    assert "Answer with" in await ask("Answer with exactly one of these, please"), "anything else is plain chat"
