"""An animated WebP in the room, in real headless Chromium: 🎬 Animate from the sticker menu posts a
sticker whose image decodes (WebCodecs `ImageDecoder`) to more than one frame."""

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
WAIT_MS = 20_000
FRAME_COUNT = """async (src) => {
  const response = await fetch(src);
  const decoder = new ImageDecoder({ data: response.body, type: "image/webp" });
  await decoder.tracks.ready;
  await decoder.completed;
  return decoder.tracks.selectedTrack.frameCount;
}"""


@pytest.fixture
async def room(tmp_path: Path) -> AsyncIterator[WebAdapter]:
    web = WebConfig(port=0)
    service = await make_service(tmp_path, FakeEngine(), AppConfig(limits=GENEROUS_LIMITS, web=web))
    adapter = create_adapter(web, service, service.config)
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.stop()
        await service.close()


async def test_animate_from_the_menu_shows_an_animated_webp(room: WebAdapter) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            errors: list[str] = []
            page = await join(await browser.new_context(), f"{room.url}/r/anim", "Alice", errors)
            await page.fill("#message-input", "/sticker eating otter")
            await page.press("#message-input", "Enter")
            await page.wait_for_selector(".msg.sticker img.sticker-img", timeout=WAIT_MS)
            first = await page.get_attribute(".msg.sticker img.sticker-img", "src")
            assert await page.evaluate(FRAME_COUNT, first) == 1

            await page.click(".msg.sticker img.sticker-img")
            await page.click("#menu >> text=🎬 Animate")
            await page.wait_for_function(
                "() => document.querySelectorAll('.msg.sticker img.sticker-img').length === 2",
                timeout=WAIT_MS,
            )
            animated = page.locator(".msg.sticker >> nth=1 >> img.sticker-img")
            await animated.evaluate("img => img.decode()")
            assert await animated.evaluate("img => img.naturalWidth") == 512
            assert await page.evaluate(FRAME_COUNT, await animated.get_attribute("src")) > 1
            assert errors == []
        finally:
            await browser.close()
