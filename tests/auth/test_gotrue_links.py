"""GoTrue's key-free routes (/authorize, /callback, /verify) answer as GoTrue does, never the gateway's 401."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from server.app import create_app
from server.config import Settings
from server.sensay.local import LocalReplica

from ..utils import run_server
from .gotrue_support import V2024, gotrue_settings

APP = "http://localhost:3000"  # an allowed origin by default: the front end's


@pytest.fixture
async def browser(settings: Settings, replica: LocalReplica) -> AsyncIterator[httpx.AsyncClient]:
    """A client like a browser following a link: no apikey, no redirects followed."""
    async with run_server(create_app(gotrue_settings(settings), replica=replica)) as url:
        async with httpx.AsyncClient(base_url=f"{url}/auth/v1", follow_redirects=False, timeout=10) as http:
            yield http


def _error_in(location: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    parts = urlsplit(location)
    return parse_qs(parts.query), parse_qs(parts.fragment)


async def test_authorize_with_a_disabled_provider_answers_gotrues_error(browser: httpx.AsyncClient) -> None:
    """Without an apikey: GoTrue's 400 validation_failed for a provider that is off, or unknown."""
    for headers, shape in (({}, "msg"), (V2024, "message")):
        off = await browser.get("/authorize?provider=google", headers=headers)
        assert off.status_code == 400, off.text
        assert off.headers["x-sb-error-code"] == "validation_failed"
        assert off.json()[shape] == "Unsupported provider: provider is not enabled"
    unknown = await browser.get("/authorize?provider=myspace")
    assert unknown.json()["msg"] == "Unsupported provider: Provider myspace could not be found"


async def test_authorize_redirects_to_an_allowed_redirect_to_with_the_error(browser: httpx.AsyncClient) -> None:
    """With redirect_to an allowed origin, the browser goes back there with error, error_code and
    error_description in the query and the fragment (what supabase-js reads); elsewhere it is not sent."""
    answer = await browser.get("/authorize", params={"provider": "google", "redirect_to": f"{APP}/login?next=/x"})
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(f"{APP}/login?next=%2Fx&") or location.startswith(f"{APP}/login?next=/x&")
    query, fragment = _error_in(location)
    expected = {
        "error": ["invalid_request"],
        "error_code": ["validation_failed"],
        "error_description": ["Unsupported provider: provider is not enabled"],
    }
    assert {key: query[key] for key in expected} == expected and fragment == expected
    elsewhere = await browser.get("/authorize", params={"provider": "google", "redirect_to": "https://evil.example"})
    assert elsewhere.status_code == 400 and "location" not in elsewhere.headers


async def test_verify_links_and_codes_are_never_valid(browser: httpx.AsyncClient) -> None:
    """GET /verify (an email link) redirects with otp_expired, or answers it; POST /verify answers GoTrue's 403."""
    link = {"token": "abc", "type": "signup", "redirect_to": APP}
    answer = await browser.get("/verify", params=link)
    assert answer.status_code == 302
    query, fragment = _error_in(answer.headers["location"])
    assert query["error"] == ["access_denied"] and query["error_code"] == ["otp_expired"]
    assert fragment["error_description"] == ["Email link is invalid or has expired"]
    assert (await browser.get("/verify", params={**link, "redirect_to": ""})).json()["error_code"] == "otp_expired"
    assert (await browser.get("/verify", params={"token": "abc"})).json()["error_code"] == "validation_failed"
    code = await browser.post("/verify", json={"type": "email", "token": "123456", "email": "a@example.com"})
    assert (code.status_code, code.json()["error_code"]) == (403, "otp_expired")
    assert (await browser.post("/verify", json={})).json()["error_code"] == "validation_failed"


async def test_callback_answers_gotrues_state_errors(browser: httpx.AsyncClient) -> None:
    """The OAuth callback, with no state or one this hub never issued, answers GoTrue's errors (no apikey asked)."""
    missing = await browser.get("/callback")
    assert (missing.status_code, missing.json()["error_code"]) == (400, "bad_oauth_callback")
    forged = await browser.get("/callback", params={"state": "forged", "code": "x"})
    assert (forged.status_code, forged.json()["error_code"]) == (400, "bad_oauth_state")
    posted = await browser.post("/callback", data={"state": "forged"})
    assert posted.json()["error_code"] == "bad_oauth_state"
