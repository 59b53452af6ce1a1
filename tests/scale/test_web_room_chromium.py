"""The web room over two bot processes in real headless Chromium: a message typed on a page served by A
shows on a page served by B, and both pages count two people."""

from __future__ import annotations

import pytest

from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, UI_WAIT_MS, join, needs_chromium

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.browser, needs_chromium]


async def test_message_typed_on_a_shows_on_b_in_chromium(start_bots) -> None:
    from playwright.async_api import async_playwright

    a, b = await start_bots(2)
    errors: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            on_a = await join(await browser.new_context(), f"{a.url}/r/shared", "ann", errors)
            on_b = await join(await browser.new_context(), f"{b.url}/r/shared", "bob", errors)
            for page in (on_a, on_b):  # presence counts the person on the other process too
                await page.wait_for_function(
                    "() => document.getElementById('member-count').textContent === '2'", timeout=UI_WAIT_MS
                )
            await on_a.fill("#message-input", "hello from A")
            await on_a.press("#message-input", "Enter")
            await on_b.wait_for_function(
                "() => document.body.innerText.includes('hello from A')", timeout=UI_WAIT_MS
            )
        finally:
            await browser.close()
    assert errors == []
