"""The Teach dialog in real headless Chromium: `/teach dog` opens it, the file picker uploads four
photos by POST /teach, the progress bar follows, and the preview sheet shows when it is done."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.web import WebAdapter, create_adapter
from bot.config import AppConfig, ModelConfig, WebConfig
from bot.teaching.service import TeachService
from tests.fakes.fake_engine import FakeEngine
from tests.fakes.service_factory import GENEROUS_LIMITS, make_service
from tests.teach.conftest import StepTrainer, teach_config
from tests.teach.helpers import dog_photo
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, join, needs_chromium

pytestmark = [pytest.mark.browser, needs_chromium]
WAIT_MS = 20_000


@pytest.fixture
async def room(tmp_path: Path) -> AsyncIterator[tuple[WebAdapter, StepTrainer]]:
    web = WebConfig(port=0)
    service = await make_service(
        tmp_path, engine=FakeEngine(), config=AppConfig(limits=GENEROUS_LIMITS, web=web)
    )
    trainer = StepTrainer()
    teaching = TeachService(
        teach_config(tmp_path), ModelConfig(device="cpu"), service.database, trainer=trainer
    )
    await teaching.start()
    service.teaching = teaching
    adapter = create_adapter(web, service, service.config)
    await adapter.start()
    try:
        yield adapter, trainer
    finally:
        await adapter.stop()
        await service.close()


async def test_teach_dialog_uploads_shows_progress_and_preview(
    room: tuple[WebAdapter, StepTrainer], tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    adapter, trainer = room
    photos = []
    for i in range(4):
        path = tmp_path / f"dog_{i}.jpg"
        path.write_bytes(dog_photo(i))
        photos.append(str(path))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            errors: list[str] = []
            page = await join(await browser.new_context(), f"{adapter.url}/r/pets", "Alice", errors)
            await page.fill("#message-input", "/teach dog")
            await page.press("#message-input", "Enter")
            await page.wait_for_selector("#teach-form", state="visible", timeout=WAIT_MS)
            assert await page.input_value("#teach-name") == "dog"
            await page.set_input_files("#teach-photos", photos)
            await page.click("#teach-form button[type=submit]")
            await page.wait_for_function(
                "() => document.querySelector('#teach-progress').value === 10", timeout=WAIT_MS
            )
            assert await page.is_visible("#teach-progress")
            trainer.release.set()
            await page.wait_for_selector("#teach-preview", state="visible", timeout=WAIT_MS)
            src = await page.get_attribute("#teach-preview", "src")
            assert src is not None and src.startswith("data:image/png;base64,")
            assert "I know your “dog” now" in await page.inner_text("#messages")
            assert errors == []
        finally:
            await browser.close()
