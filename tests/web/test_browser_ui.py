"""The page's interactive parts in real headless Chromium, with the fast FakeEngine behind the service:
sticker menu (4 more → pick), reaction picker, style menu, recent tray, and reconnect with catch-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.web import WebAdapter, create_adapter
from bot.config import AppConfig, WebConfig
from tests.fakes.fake_engine import FakeEngine
from tests.fakes.service_factory import GENEROUS_LIMITS, make_service
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, join, needs_chromium

pytestmark = [pytest.mark.browser, needs_chromium]
WAIT_MS = 15_000


@pytest.fixture
def web_config() -> WebConfig:
    return WebConfig(port=0)


@pytest.fixture
async def room(tmp_path: Path, web_config: WebConfig) -> AsyncIterator[WebAdapter]:
    web = web_config
    config = AppConfig(limits=GENEROUS_LIMITS, web=web)
    service = await make_service(tmp_path, engine=FakeEngine(), config=config)
    adapter = create_adapter(web, service, service.config)
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.stop()
        await service.close()


def count(page, selector: str):
    return page.locator(selector).count()


async def wait_count(page, selector: str, n: int) -> None:
    await page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length === n", arg=[selector, n], timeout=WAIT_MS
    )


async def test_menus_reactions_styles_tray_and_reconnect(room: WebAdapter) -> None:
    from playwright.async_api import async_playwright

    url = f"{room.url}/r/ui"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            errors: list[str] = []
            alice = await join(await browser.new_context(), url, "Alice", errors)
            bob = await join(
                await browser.new_context(viewport={"width": 390, "height": 760}, has_touch=True),
                url,
                "Bob",
                errors,
            )
            await alice.fill("#message-input", "react to me")
            await alice.press("#message-input", "Enter")
            await alice.click("#sticker-button")  # the sticker button's prompt box
            await alice.fill("#sticker-prompt", "eating otter")
            await alice.press("#sticker-prompt", "Enter")
            await wait_count(bob, ".msg.sticker img.sticker-img", 1)

            # Sticker menu → 4 more: candidates for Bob only; picking one posts it for everyone.
            await bob.click(".msg.sticker img.sticker-img")
            await bob.click("#menu >> text=4 more")
            await bob.wait_for_selector("#candidates:not([hidden]) .thumb img", timeout=WAIT_MS)
            assert await count(bob, "#candidate-items .thumb") == 4
            assert await alice.locator("#candidates").is_hidden()
            chosen = await bob.get_attribute("#candidate-items .thumb >> nth=2 >> img", "src")
            await bob.click("#candidate-items .thumb >> nth=2")
            await wait_count(alice, ".msg.sticker img.sticker-img", 2)
            assert await alice.get_attribute(".msg.sticker >> nth=1 >> img", "src") == chosen

            # Reaction picker on Alice's text message → a sticker replying to it.
            await bob.click(".msg.chat .react-button")
            await bob.click("#emoji-picker .emoji >> nth=0")
            await wait_count(alice, ".msg.sticker img.sticker-img", 3)
            assert "reaction to Alice" in await alice.locator(".msg.sticker .reply").inner_text()

            # Style menu: Alice picks rabbit; Bob's menu follows.
            await alice.select_option("#style-select", "rabbit")
            await bob.wait_for_function(
                "() => document.querySelector('#style-select').value === 'rabbit'", timeout=WAIT_MS
            )

            # Recent tray re-sends without generating.
            ran = len(room.service.engine.ran)
            await alice.click("#tray-button")
            await alice.click("#tray-items .thumb >> nth=0")
            await wait_count(bob, ".msg.sticker img.sticker-img", 4)
            assert len(room.service.engine.ran) == ran

            # Reconnect: the server drops Bob's connection; what is said meanwhile still reaches him.
            assert room.chat is not None
            for client in room.chat.rooms.all_clients():
                if client.name == "Bob":
                    await client.ws.close(code=1012, message=b"restarting")
            await alice.fill("#message-input", "while you were away")
            await alice.press("#message-input", "Enter")
            await bob.wait_for_selector("text=while you were away", timeout=WAIT_MS)
            await bob.wait_for_selector("#status", state="hidden", timeout=WAIT_MS)
            assert await count(bob, ".msg.chat") == 2  # no duplicates after catching up
            await bob.fill("#message-input", "back again")
            await bob.press("#message-input", "Enter")
            await alice.wait_for_selector("text=back again", timeout=WAIT_MS)

            assert errors == []
        finally:
            await browser.close()


@pytest.mark.parametrize("web_config", [WebConfig(port=0, access_token="let-me-in")])
async def test_access_token_from_the_form_or_a_link(room: WebAdapter) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = await (await browser.new_context()).new_page()
            await page.goto(f"{room.url}/r/private")
            await page.fill("#join-name", "Alice")
            await page.click("#join-form button[type=submit]")
            await page.wait_for_selector("#join-error:not([hidden])", timeout=WAIT_MS)
            assert "access token" in await page.inner_text("#join-error")
            assert await page.locator("#token-details").get_attribute("open") is not None
            await page.fill("#join-token", "let-me-in")
            await page.click("#join-form button[type=submit]")
            await page.wait_for_selector("#join", state="hidden", timeout=WAIT_MS)

            # A shared link carries the token; the page keeps it and removes it from the address bar.
            guest = await (await browser.new_context()).new_page()
            await guest.goto(f"{room.url}/r/private?token=let-me-in")
            await guest.fill("#join-name", "Bob")
            await guest.click("#join-form button[type=submit]")
            await guest.wait_for_selector("#join", state="hidden", timeout=WAIT_MS)
            assert "token" not in guest.url
            await page.wait_for_function(
                "() => document.querySelector('#member-count').textContent === '2'", timeout=WAIT_MS
            )
        finally:
            await browser.close()
