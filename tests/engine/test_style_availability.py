"""Styles that cannot run say so: a missing or broken LoRA, a pickle-format path, a bad default style."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from diffusers import StableDiffusionXLPipeline
from safetensors.torch import save_file

from bot.app import App
from bot.cli import main
from bot.config import AppConfig
from bot.service import with_storage_under
from bot.types import StickerRequest
from generator.api import StyleError
from generator.lora import read_lora_file
from generator.lora_files import random_lora_state_dict
from generator.options import EngineConfig, ModelConfig
from generator.pipeline import StickerPipeline
from generator.styles import StyleRegistry, load_style_file
from tests.core.fake_adapter import FakeAdapterModule
from tests.fakes.service_factory import GENEROUS_LIMITS

PLAIN = "name: plain\ndescription: Plain.\n"


def poisoned_lora(tiny_model_dir: Path) -> dict[str, torch.Tensor]:
    pipe = StableDiffusionXLPipeline.from_pretrained(tiny_model_dir, local_files_only=True)
    state = random_lora_state_dict(pipe.unet, rank=2)
    first = next(iter(state))
    state[first][0, 0] = math.nan
    return state


def nan_styles(tmp_path: Path, tiny_model_dir: Path) -> Path:
    save_file(poisoned_lora(tiny_model_dir), str(tmp_path / "nan.safetensors"))
    (tmp_path / "nan.yaml").write_text("name: nan\ndescription: x\nloras:\n  - source: nan.safetensors\n")
    (tmp_path / "plain.yaml").write_text(PLAIN)
    return tmp_path


def test_a_lora_with_nan_values_is_refused_when_read(tmp_path: Path) -> None:
    path = tmp_path / "bad.safetensors"
    save_file({"unet.x.lora_A.weight": torch.tensor([[1.0, math.inf]])}, str(path))
    with pytest.raises(StyleError, match=r"LoRA bad\.safetensors: tensor unet\.x\.lora_A\.weight holds NaN"):
        read_lora_file(path)


@pytest.mark.slow
def test_a_nan_lora_makes_its_style_unavailable_at_load(tmp_path: Path, tiny_model_dir: Path) -> None:
    styles = StyleRegistry.load(nan_styles(tmp_path, tiny_model_dir))
    sp = StickerPipeline.load(ModelConfig(path=str(tiny_model_dir), device="cpu", dtype="float32"), styles)
    assert set(sp.unavailable) == {"nan"}
    assert "holds NaN or infinite values" in (sp.unavailable["nan"].detail or "")
    with pytest.raises(StyleError, match="The style 'nan' is unavailable right now"):
        sp.activate_style("nan")


@pytest.mark.slow
async def test_the_bot_says_the_style_is_unavailable_not_unknown(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    (tmp_path / "styles").mkdir()
    styles = nan_styles(tmp_path / "styles", tiny_model_dir)
    config = AppConfig(
        model=ModelConfig(path=str(tiny_model_dir), local_files_only=True, compile="off", warmup=False),
        engine=EngineConfig(styles_dir=str(styles), default_style="plain", max_wait_ms=0),
        limits=GENEROUS_LIMITS,
    )
    module = FakeAdapterModule()
    app = App(with_storage_under(config, tmp_path), adapter_modules={"web": module})
    await app.start()
    try:
        adapter = module.created[0]
        adapter.reply_timeout_s = 300.0
        assert (await adapter.ask(StickerRequest("web", "u1", "lobby", "lobby", text="happy"))).ok
        reply = await adapter.ask(StickerRequest("web", "u1", "lobby", "lobby", text="happy style:nan"))
    finally:
        await app.stop()
    assert reply.error is not None
    assert reply.error.message.startswith("The style 'nan' is unavailable right now")


def test_a_bin_lora_path_is_refused_not_read_as_a_hub_id(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(PLAIN.replace("plain", "demo") + "loras:\n  - source: loras/x.bin\n")
    with pytest.raises(StyleError, match=r"field 'loras\[0\]\.source' must be a \.safetensors file"):
        load_style_file(path)


def test_styles_list_marks_a_style_whose_lora_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "gone.yaml").write_text("name: gone\ndescription: x\nloras:\n  - source: gone.safetensors\n")
    (tmp_path / "plain.yaml").write_text(PLAIN)
    assert main(["styles", "list", "--styles-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(
        line.startswith("gone") and "(unavailable: LoRA file gone.safetensors not found)" in line
        for line in lines
    )
    assert not any("unavailable" in line for line in lines if line.startswith("plain"))


def test_run_refuses_an_unknown_default_style_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "styles").mkdir()
    (tmp_path / "styles" / "plain.yaml").write_text(PLAIN)
    config = tmp_path / "bot.yaml"
    config.write_text("engine:\n  styles_dir: styles\n  default_style: otterr\n")
    assert main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"stickerbot: {config}: 'engine.default_style' 'otterr' is not an installed style (plain)"
