"""The demo page at /demo: served as static files, same-origin sockets, and the whole page in headless Chromium."""

from __future__ import annotations

import json
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets
from playwright.async_api import Browser, Page, async_playwright, expect

from server.sensay.local import LocalReplica
from server.web.demo import STATIC_DIR

from ..utils import ws_url

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = Path(__file__).parents[2] / ".artifacts" / "demo.png"
"""Where the browser test leaves its screenshot (ignored by git)."""
WAIT_MS = 20_000
"""Upper bound of every wait in the browser (the machine is shared; nothing asserts a duration)."""


async def test_demo_page_and_its_scripts_are_served(http: httpx.AsyncClient) -> None:
    """/demo is a public HTML page with a strict CSP; its scripts and the compiled client are served beside it."""
    page = await http.get("/demo")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/demo/demo.js">' in page.text
    for path in ("/demo/demo.js", "/demo/client/index.js", "/demo/client/client.js", "/demo/demo.css"):
        response = await http.get(path)
        assert response.status_code == 200, path
    assert (await http.get("/demo/client/index.js")).headers["content-type"].startswith("text/javascript")
    assert (await http.get("/demo/../server/app.py")).status_code == 404
    for icon in ("/favicon.ico", "/demo/favicon.svg"):
        response = await http.get(icon)
        assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml"), icon


def test_every_static_file_ships_in_the_package() -> None:
    """pyproject's package-data globs cover every file of server/web/static (a wheel would miss the others)."""
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    server_dir = STATIC_DIR.parent.parent
    shipped = {
        path
        for pattern in pyproject["tool"]["setuptools"]["package-data"]["server"]
        for path in server_dir.glob(pattern)
    }
    assert {path for path in STATIC_DIR.rglob("*") if path.is_file()} <= shipped


async def test_a_socket_from_the_hubs_own_origin_is_accepted(server: str, alice: dict) -> None:
    """The demo page's socket is same-origin, so it needs no ALLOWED_ORIGINS entry; foreign origins stay refused."""
    async with websockets.connect(ws_url(server), origin=server) as ws:
        await ws.send(json.dumps({"type": "auth", "token": alice["access_token"]}))
        assert json.loads(await ws.recv())["type"] == "hello"
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(ws_url(server), origin="http://evil.example"):
            pass


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


def watch(page: Page, errors: list[str]) -> None:
    """Collect the page's script errors and every request of it that failed (a missing favicon included)."""
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "response",
        lambda response: errors.append(f"{response.status} {response.url}") if response.status >= 400 else None,
    )


async def open_demo(page: Page, server: str) -> None:
    await page.goto(f"{server}/demo")
    await expect(page.locator("#status")).to_have_text("Connected", timeout=WAIT_MS)


async def test_demo_in_a_real_browser(
    server: str, replica: LocalReplica, browser: Browser, http: httpx.AsyncClient
) -> None:
    """Sign up, chat with a streamed reply, a second tab in sync, rooms of two replicas (one votes), a task live."""
    replica.word_delay = 0.03  # the reply streams in over a second or so
    context = await browser.new_context()
    first = await context.new_page()
    errors: list[str] = []
    watch(first, errors)
    await first.goto(f"{server}/demo")
    await expect(first.locator("#auth")).to_be_visible()
    await expect(first.locator("#app")).to_be_hidden()  # logged out: only the login form
    await first.get_by_label("Email").fill("grace@example.com")
    await first.get_by_label("Password").fill("correct horse battery")
    await first.get_by_role("button", name="Sign up").click()
    await expect(first.locator("#status")).to_have_text("Connected", timeout=WAIT_MS)
    await expect(first.locator("#who-email")).to_have_text("grace@example.com")

    second = await context.new_page()  # the same browser: the session is shared through localStorage
    await open_demo(second, server)

    await first.get_by_label("Message", exact=True).fill("What is the Analytical Engine?")
    await first.locator("#chat-form").get_by_role("button", name="Send").click()
    for page in (first, second):
        log = page.locator("#chat-log")
        await expect(log.locator("li[data-sender=user]")).to_have_text(
            "YouWhat is the Analytical Engine?", timeout=WAIT_MS
        )
        await expect(log.locator("li[data-sender=replica][data-message-id]")).to_contain_text(
            "Analytical Engine?", timeout=WAIT_MS
        )
    await expect(first.locator("#chat-log li[data-streamed]")).to_have_count(1)

    token = await first.evaluate("JSON.parse(localStorage.getItem('sensay-hub.demo.session')).access_token")
    created = await http.post(
        "/api/tasks", json={"description": "buy milk"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 201
    for page in (first, second):
        await expect(page.locator("#task-list li span")).to_have_text(["buy milk"], timeout=WAIT_MS)

    await first.get_by_label("Tell the Task Memory replica").fill("add task water the plants")
    await first.locator("#memory-form").get_by_role("button", name="Tell").click()
    answer = first.locator("#memory-answer")
    await expect(answer).to_contain_text(
        'Task Memory here: your list is up to date. Added task 2: "water the plants"', timeout=WAIT_MS
    )
    assert "The user wrote" not in await answer.text_content() and "Confirm" not in await answer.text_content()
    await expect(second.locator("#task-list li span")).to_have_text(["buy milk", "water the plants"], timeout=WAIT_MS)
    await expect(first.locator("#chat-log li[data-sender=user]")).to_have_count(1)  # not the Ada Lovelace chat

    await expect(first.locator("#room-form")).to_be_hidden()  # no room yet, nothing to send to
    await first.get_by_role("button", name="Open a room").click()
    await first.get_by_label("Message to the room").fill("Hello both of you")
    await first.locator("#room-form").get_by_role("button", name="Send").click()
    room_replies = first.locator("#room-log li[data-sender=replica][data-message-id]")
    await expect(room_replies).to_have_count(2, timeout=WAIT_MS)
    for text in await room_replies.all_text_contents():  # in character, from grace's words, no framing quoted
        assert 'grace wrote: "Hello both of you"' in text or 'grace asked: "Hello both of you"' in text, text
        assert "[Room" not in text and "round_robin" not in text and "It is your turn" not in text, text

    replica.word_delay = 0.0  # a democratic run: two proposals, a vote and a decision
    await first.locator("#room-open select[name=mode]").select_option("democratic")
    await first.get_by_role("button", name="Open a room").click()
    await first.get_by_label("Message to the room").fill("Where shall we meet?")
    await first.locator("#room-form").get_by_role("button", name="Send").click()
    await expect(first.locator("#room-log li[data-sender=room]").filter(has_text="Vote: ")).to_have_count(
        1, timeout=WAIT_MS
    )
    await expect(first.locator("#room-name")).to_contain_text("decided by vote", timeout=WAIT_MS)

    await first.get_by_label("Done: buy milk").check()
    await expect(second.locator("#task-list li[data-status=completed]")).to_have_count(1, timeout=WAIT_MS)

    SCREENSHOT.parent.mkdir(exist_ok=True)
    await first.screenshot(path=str(SCREENSHOT), full_page=True)
    assert errors == []
    await context.close()


async def test_logging_out_leaves_nothing_of_the_user_on_screen(
    server: str, replica: LocalReplica, browser: Browser
) -> None:
    """Logout mid-reply: chat, room, tasks, the half-streamed reply and the password are gone, in every tab."""
    context = await browser.new_context()
    first = await context.new_page()
    errors: list[str] = []
    watch(first, errors)
    await first.goto(f"{server}/demo")
    await first.get_by_label("Email").fill("hopper@example.com")
    await first.get_by_label("Password").fill("correct horse battery")
    await first.get_by_role("button", name="Sign up").click()
    await expect(first.locator("#status")).to_have_text("Connected", timeout=WAIT_MS)
    second = await context.new_page()
    await open_demo(second, server)
    await first.get_by_label("New task").fill("debug the moth")
    await first.locator("#task-form").get_by_role("button", name="Add").click()
    await first.get_by_role("button", name="Open a room").click()
    await expect(first.locator("#room-form")).to_be_visible()

    replica.word_delay = 1.0  # the reply is still streaming when the user logs out
    await first.get_by_label("Message", exact=True).fill("A long answer, please")
    await first.locator("#chat-form").get_by_role("button", name="Send").click()
    for page in (first, second):
        await expect(page.locator("#chat-log li[data-streaming]")).to_have_count(1, timeout=WAIT_MS)
        await expect(page.locator("#task-list li")).to_have_count(1, timeout=WAIT_MS)
    await first.get_by_role("button", name="Log out").click()

    for page in (first, second):  # the other tab follows through the shared session
        await expect(page.locator("#auth")).to_be_visible(timeout=WAIT_MS)
        await expect(page.locator("#app")).to_be_hidden()
        await expect(page.locator("#who")).to_be_hidden()
        for log in ("#chat-log li", "#room-log li", "#task-list li", "#replica option", "#room-replicas input"):
            await expect(page.locator(log)).to_have_count(0)
        for text in ("#room-name", "#memory-answer", "#who-email"):
            await expect(page.locator(text)).to_have_text("")
        await expect(page.locator("#room-form")).to_be_hidden()
        await expect(page.get_by_label("Password")).to_have_value("")
    replica.word_delay = 0.0
    assert errors == []
    await context.close()
