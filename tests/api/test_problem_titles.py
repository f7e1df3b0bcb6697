"""A problem document's title is its status's reason phrase, from Python's ``http.HTTPStatus``."""

from __future__ import annotations

from http import HTTPStatus

import msgspec

from protocol import ErrorCode
from server.api.problems import Problem, problem_response


def test_every_rest_error_code_gets_its_status_phrase_as_title() -> None:
    """Each code answered over REST carries the standard phrase of its status, never a placeholder."""
    for code in ErrorCode:
        if code.http_status is None:
            continue
        body = msgspec.json.decode(problem_response(Problem(code, "why")).body)
        assert body["title"] == HTTPStatus(code.http_status).phrase, code


def test_a_status_http_does_not_name_gets_a_plain_title() -> None:
    body = msgspec.json.decode(problem_response(Problem(ErrorCode.INTERNAL_ERROR, "why", status=599)).body)
    assert (body["status"], body["title"]) == (599, "Error")
