"""The whole path on the real engine: `bot.app` builds it with `generator.engine.build_engine` on the
tiny random-weight SDXL model, and a fake adapter talks to the service. Also `stickerbot run` as a
real process that shuts down cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
from pathlib import Path

import pytest
from PIL import Image

from bot.app import App
from bot.config import AppConfig
from bot.service import with_storage_under
from bot.types import RequestKind, StickerRequest
from generator.options import EngineConfig, ModelConfig
from tests.core.fake_adapter import FakeAdapterModule
from tests.fakes.service_factory import GENEROUS_LIMITS

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


OTTER_STYLE = """\
name: otter
description: A round otter
trigger: dm-sticker
template: "{expression}, {subject}, {trigger}"
subject: otter
negative_prompt: photo, realistic, text
background: white
steps: 1
outline: true
"""


@pytest.fixture(scope="module")
def tiny_styles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("core-styles")
    (directory / "otter.yaml").write_text(OTTER_STYLE, encoding="utf-8")
    return directory


def tiny_config(tmp_path: Path, model_dir: Path, styles: Path) -> AppConfig:
    config = AppConfig(
        model=ModelConfig(path=str(model_dir), local_files_only=True, compile="off", warmup=False),
        engine=EngineConfig(styles_dir=str(styles), default_style="otter", max_wait_ms=0),
        limits=GENEROUS_LIMITS,
    )
    return with_storage_under(config, tmp_path)


async def test_real_engine_end_to_end(tmp_path: Path, tiny_model_dir: Path, tiny_styles: Path) -> None:
    module = FakeAdapterModule()
    app = App(tiny_config(tmp_path, tiny_model_dir, tiny_styles), adapter_modules={"web": module})
    await app.start()
    try:
        adapter = module.created[0]
        adapter.reply_timeout_s = 300.0  # the first request waits for the model to load
        first = await adapter.ask(StickerRequest("web", "u1", "lobby", "lobby", text="eating otter seed:5"))
        assert first.ok, first.error
        assert first.prompt == "eating, otter, dm-sticker" and first.seed == 5 and not first.cached
        (sticker,) = first.stickers
        with Image.open(io.BytesIO(sticker.data)) as img:
            assert img.format == "WEBP" and img.mode == "RGBA" and max(img.size) == 512
        assert len(sticker.data) < 512_000

        again = await adapter.ask(StickerRequest("web", "u2", "lobby", "lobby", text="eating otter seed:5"))
        assert again.cached and again.stickers[0].data == sticker.data

        reroll = await adapter.ask(
            StickerRequest("web", "u1", "lobby", "lobby", kind=RequestKind.REROLL, parent_id=first.record_id)
        )
        assert reroll.ok and reroll.seed != 5 and reroll.prompt == first.prompt

        assert app.service is not None
        metrics = app.service.metrics.render().decode()
        assert "stickerbot_engine_batches_total 2.0" in metrics  # the engine's own micro-batches
        assert "stickerbot_cache_hits_total 1.0" in metrics
    finally:
        await app.stop()


async def test_stickerbot_run_stops_cleanly_on_sigterm(
    tmp_path: Path, tiny_model_dir: Path, tiny_styles: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"model:\n  local_files_only: true\n  compile: 'off'\n  warmup: false\n"
        f"engine:\n  styles_dir: {tiny_styles}\n  default_style: otter\n"
        f"storage:\n  url: sqlite:///{tmp_path}/bot.db\n  cache_dir: {tmp_path}/cache\n"
        f"web:\n  enabled: false\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STICKERBOT_DISCORD_TOKEN": "secret-token-never-logged"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--config",
        str(config),
        "--model",
        str(tiny_model_dir),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    output: list[str] = []
    try:
        async with asyncio.timeout(120):
            while True:
                line = (await proc.stdout.readline()).decode()
                assert line, "".join(output)
                output.append(line)
                if "stickerbot running" in line:
                    break
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            rest = (await proc.stdout.read()).decode()
            code = await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = "".join(output) + rest
    assert code == 0, text
    assert "SIGTERM received" in text and "stopped" in text
    assert "secret-token-never-logged" not in text
    assert (tmp_path / "bot.db").exists()
