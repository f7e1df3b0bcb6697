"""Every REST answer the test suite receives is checked against the OpenAPI document of its operation.

``run_server`` wraps each app it serves in :class:`ContractCheck`, a pure ASGI middleware: it passes every message
through unchanged, and when an HTTP answer is complete it checks the status is one the operation declares, the
media type and body match that status's schema, and the declared headers are there. A request no operation
matches must get a 404 or 405 problem document. Violations are collected and fail the test when its server stops.
Routes outside the API (``/ws``, ``/demo``) and CORS preflights are not checked.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Match
from starlette.types import Message, Receive, Scope, Send

from server.api.openapi import build_document
from server.api.operation import ApiRoute, Operation

_UNROUTED = {404: "not_found", 405: "method_not_allowed", 422: "validation_error"}
"""What a request no operation matches may get: no route, no method, or a NUL in its path (refused before routing)."""


class ContractCheck:
    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.routes: list[BaseRoute] = list(app.routes)
        self.document = build_document(self.routes)
        self.violations: list[str] = []
        self.checked = 0
        self._validators: dict[tuple[str, int], Draft202012Validator] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        routed = self._route(scope)
        if routed is False:  # not part of the REST API
            await self.app(scope, receive, send)
            return
        answer: dict[str, Any] = {"status": 0, "headers": {}, "body": bytearray()}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")
                if not message.get("more_body", False):
                    self._check(scope, routed, answer["status"], answer["headers"], bytes(answer["body"]))
            await send(message)

        await self.app(scope, receive, capture)

    def assert_clean(self) -> None:
        assert not self.violations, "answers that break the OpenAPI document:\n" + "\n".join(self.violations)

    # -- matching ---------------------------------------------------------------------------------------------

    def _route(self, scope: Scope) -> Operation | None | bool:
        """The operation of the request; ``None`` when no route matches it; ``False`` for non-REST routes."""
        partial: BaseRoute | None = None
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route.operation if isinstance(route, ApiRoute) else False
            if match is Match.PARTIAL and partial is None:
                partial = route
        if partial is not None and not isinstance(partial, ApiRoute):
            return False
        return None

    # -- checking ---------------------------------------------------------------------------------------------

    def _check(self, scope: Scope, op: Operation | None, status: int, headers: dict[str, str], body: bytes) -> None:
        self.checked += 1
        where = f"{scope['method']} {scope['path']} -> {status}"
        if op is None:
            code = _UNROUTED.get(status)
            problem = self._json(where, headers, body, "application/problem+json")
            if code is None or (problem is not None and problem.get("code") != code):
                self.violations.append(f"{where}: no operation matches, and the answer is not a 404/405/422 problem")
            elif problem is not None:
                self._validate(where, ("#/components/schemas/ProblemDocument", 0), problem)
            return
        declared = op.answers.get(status)
        if declared is None:
            self.violations.append(f"{where}: {op.operation_id} does not declare {status} ({body[:200]!r})")
            return
        for name in declared.headers:
            if name.lower() not in headers:
                self.violations.append(f"{where}: {op.operation_id} declares header {name}, which is missing")
        if scope["method"] == "HEAD":
            return
        if declared.body is None and declared.media_type != "application/problem+json":
            if body:
                self.violations.append(f"{where}: {op.operation_id} declares no body, got {body[:200]!r}")
            return
        content = self._json(where, headers, body, declared.media_type)
        if content is not None:
            self._validate(where, (op.operation_id, status), content)

    def _json(self, where: str, headers: dict[str, str], body: bytes, media_type: str) -> Any:
        given = headers.get("content-type", "").split(";")[0].strip()
        if given != media_type:
            self.violations.append(f"{where}: content-type {given!r}, declared {media_type!r}")
            return None
        if not media_type.endswith("json"):  # text (e.g. /metrics): its schema describes a string
            return body.decode()
        try:
            return json.loads(body)
        except ValueError:
            self.violations.append(f"{where}: the body is not JSON: {body[:200]!r}")
            return None

    def _validate(self, where: str, key: tuple[str, int], content: Any) -> None:
        validator = self._validators.get(key)
        if validator is None:
            validator = self._validators[key] = Draft202012Validator(
                {**self._schema(*key), "components": self.document["components"]}, format_checker=FormatChecker()
            )
        errors = sorted(validator.iter_errors(content), key=lambda e: list(e.absolute_path))
        for error in errors[:3]:
            at = "/".join(str(p) for p in error.absolute_path)
            self.violations.append(f"{where}: at /{at}: {error.message[:300]}")

    def _schema(self, operation_id: str, status: int) -> dict[str, Any]:
        if operation_id.startswith("#/"):
            return {"$ref": operation_id}
        for methods in self.document["paths"].values():
            for op in methods.values():
                if op["operationId"] == operation_id:
                    content = op["responses"][str(status)]["content"]
                    return dict(next(iter(content.values()))["schema"])
        raise AssertionError(f"no operation {operation_id}")


def contract_checked(app: Any) -> ContractCheck | None:
    """A checker around ``app`` when it is a sensay-hub app (it has declared routes), else ``None``."""
    routes = getattr(app, "routes", None)
    if routes is None or not any(isinstance(route, ApiRoute) for route in routes):
        return None
    return ContractCheck(app)
