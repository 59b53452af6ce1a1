"""The chat room end to end in real headless Chromium, with the tiny real model behind the service.

Two browser contexts (two people) join the room; one types `/sticker eating otter`; both must see
the sticker, which must be a decodable WebP with transparent pixels; a reload must show the
history. Screenshots go to test-artifacts/ (web-e2e.png, web-e2e-phone.png).
"""

from __future__ import annotations

import hashlib
import io
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from adapters.web import WebAdapter, create_adapter
from bot.config import AppConfig, WebConfig
from generator.options import EngineConfig, ModelConfig
from tests.fakes.service_factory import GENEROUS_LIMITS, make_service
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, UI_WAIT_MS, join, needs_chromium

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
REPO_STYLES = Path(__file__).resolve().parents[2] / "styles"
STICKER_WAIT_MS = 180_000  # first request also loads the tiny model; generous for 2 slow CI cores

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    needs_chromium,
]


@pytest.fixture
async def running_room(tmp_path: Path, tiny_model_dir: Path) -> AsyncIterator[WebAdapter]:
    """The real adapter on 127.0.0.1 (random port), the real service, the real engine on the tiny model."""
    from generator.engine import build_engine

    styles_dir = tmp_path / "styles"
    styles_dir.mkdir()
    shutil.copy(REPO_STYLES / "otter.yaml", styles_dir / "otter.yaml")  # the shipped prompt-only style
    model_cfg = ModelConfig(path=str(tiny_model_dir), local_files_only=True, compile="off", warmup=False)
    engine_cfg = EngineConfig(styles_dir=str(styles_dir), default_style="otter")
    web = WebConfig(port=0)
    config = AppConfig(limits=GENEROUS_LIMITS, model=model_cfg, engine=engine_cfg, web=web)
    service = await make_service(tmp_path, engine=build_engine(model_cfg, engine_cfg), config=config)
    adapter = create_adapter(web, service, service.config)
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.stop()
        await service.close()
        await service.engine.close()


async def sticker_src(page) -> str:
    """Wait until a sticker image is in the page and decoded by the browser; return its src."""
    await page.wait_for_function(
        "() => { const i = document.querySelector('.msg.sticker img.sticker-img');"
        " return i && i.complete && i.naturalWidth > 0; }",
        timeout=STICKER_WAIT_MS,
    )
    return await page.get_attribute(".msg.sticker img.sticker-img", "src")


async def test_two_people_one_sticker_in_real_chromium(running_room: WebAdapter) -> None:
    from playwright.async_api import async_playwright

    url = f"{running_room.url}/r/e2e"
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            alice_ctx = await browser.new_context(viewport={"width": 900, "height": 720})
            bob_ctx = await browser.new_context(
                viewport={"width": 390, "height": 760}, is_mobile=True, has_touch=True
            )
            errors: list[str] = []
            alice = await join(alice_ctx, url, "Alice", errors)
            bob = await join(bob_ctx, url, "Bob <script>alert(1)</script>", errors)
            await alice.wait_for_function("() => document.querySelector('#member-count').textContent === '2'")

            await alice.fill("#message-input", "hi Bob, watch this")
            await alice.press("#message-input", "Enter")
            await bob.wait_for_selector("text=hi Bob, watch this", timeout=UI_WAIT_MS)
            await alice.fill("#message-input", "/sticker eating otter")
            await alice.press("#message-input", "Enter")

            src_alice = await sticker_src(alice)
            src_bob = await sticker_src(bob)
            assert src_alice == src_bob and src_alice.startswith("/stickers/")
            assert await alice.locator(".msg.sticker figcaption").inner_text() == "eating otter"
            # The browser decoded it at sticker size.
            natural = await bob.eval_on_selector(
                ".msg.sticker img.sticker-img", "i => [i.naturalWidth, i.naturalHeight]"
            )
            assert max(natural) == 512  # sticker format: the longer side is exactly 512

            resp = await alice.request.get(f"{running_room.url}{src_alice}")
            assert resp.ok and resp.headers["content-type"] == "image/webp"
            data = await resp.body()
            assert hashlib.sha256(data).hexdigest() == src_alice.removeprefix("/stickers/").removesuffix(
                ".webp"
            )
            with Image.open(io.BytesIO(data)) as img:
                assert img.format == "WEBP" and img.mode == "RGBA"
                alpha_min, alpha_max = img.getchannel("A").getextrema()
                assert alpha_min == 0 and alpha_max == 255  # transparent background, opaque subject

            # A hostile display name is shown as text, never run.
            names = await alice.eval_on_selector_all("#members li", "els => els.map(e => e.textContent)")
            assert any("<script>" in n for n in names)
            assert await alice.evaluate("() => document.querySelectorAll('#members script').length") == 0

            await alice.screenshot(path=str(ARTIFACTS / "web-e2e.png"))
            await bob.screenshot(path=str(ARTIFACTS / "web-e2e-phone.png"))

            # History: a reload shows the conversation and the sticker again.
            await bob.reload()
            await bob.wait_for_selector("#join", state="hidden", timeout=UI_WAIT_MS)
            assert await sticker_src(bob) == src_alice
            await bob.wait_for_selector("text=hi Bob, watch this", timeout=UI_WAIT_MS)
            assert await bob.locator(".msg.sticker").count() == 1

            assert errors == []
        finally:
            await browser.close()
