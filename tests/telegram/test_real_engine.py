"""End to end: the composition root (`bot.app.App`) imports `adapters.telegram` by name, the real engine
draws on the tiny random-weight SDXL model, and the fake Bot API validates the stickers it receives."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.fixtures import write_style
from bot.app import App
from bot.config import AppConfig
from bot.service import with_storage_under
from generator.options import EngineConfig, ModelConfig
from tests.fakes.service_factory import GENEROUS_LIMITS
from tests.fakes.telegram_api import FakeBotAPI
from tests.telegram.conftest import STORAGE_CHAT, telegram_config

pytestmark = pytest.mark.slow


async def test_sticker_and_inline_on_the_tiny_model(tmp_path: Path, tiny_model_dir: Path) -> None:
    styles = tmp_path / "styles"
    write_style(styles, "otter")
    async with FakeBotAPI() as api:
        config = AppConfig(
            model=ModelConfig(path=str(tiny_model_dir), local_files_only=True, compile="off", warmup=False),
            engine=EngineConfig(styles_dir=str(styles), default_style="otter", max_wait_ms=0),
            limits=GENEROUS_LIMITS,
            telegram=telegram_config(api, inline_deadline_s=8.0),
        )
        config.web.enabled = False
        app = App(with_storage_under(config, tmp_path))
        await app.start()
        try:
            message = api.message_update(-100321, 11, "/sticker eating otter seed:5")
            [sent] = await api.wait_calls("sendSticker", within_s=120)
            assert sent.params["reply_parameters"]["message_id"] == message["message_id"]
            assert sent.files["sticker"][:4] == b"RIFF"
            api.inline_update(11, "sleepy otter")
            [answer] = await api.wait_calls("answerInlineQuery", within_s=30)
            assert answer.error is None
            if not answer.params["results"]:  # the CPU was too slow for the deadline: offer the private chat
                assert answer.params["button"]["start_parameter"]
            # either way the 4 candidates end up in the storage chat, uploaded once each
            await api.wait_for(
                lambda a: (
                    len(
                        [c for c in a.calls_of("sendSticker", ok=True) if c.params["chat_id"] == STORAGE_CHAT]
                    )
                    == 4
                ),
                within_s=60,
                what="4 uploads to the storage chat",
            )
        finally:
            await app.stop()
    assert api.violations == []
