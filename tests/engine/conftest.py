"""Fixtures of the engine tests: styles that use the tiny model's LoRAs, and a loaded StickerPipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_STYLES = {
    "plain": "name: plain\ndescription: Prompt only.\ntrigger: dm-sticker\nsubject: otter\n",
    "lora-a": (
        "name: lora-a\ndescription: One LoRA.\ntrigger: dm-sticker\n"
        "loras:\n  - source: loras/tiny-lora-a.safetensors\n    scale: 1.0\n"
    ),
    "fusion": (
        "name: fusion\ndescription: Two LoRAs fused with their scales.\ntrigger: dm-sticker\n"
        "loras:\n  - source: loras/tiny-lora-a.safetensors\n    scale: 0.7\n"
        "  - source: loras/tiny-lora-b.safetensors\n    scale: 0.5\n"
    ),
    "offline-hub": (
        "name: offline-hub\ndescription: A hub LoRA that cannot be fetched offline.\ntrigger: x\n"
        "loras:\n  - source: stickerbot-tests/not-a-real-repo\n    weight_name: lora.safetensors\n"
    ),
}


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """No engine test touches the network: the Hugging Face hub is offline."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_styles_dir(tiny_lora_files: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A styles directory: `plain` (prompt only), `lora-a`, `fusion` (two LoRAs), `offline-hub`."""
    directory = tmp_path_factory.mktemp("tiny-styles")
    (directory / "loras").mkdir()
    for lora in tiny_lora_files:
        (directory / "loras" / lora.name).write_bytes(lora.read_bytes())
    for name, text in TINY_STYLES.items():
        (directory / f"{name}.yaml").write_text(text, encoding="utf-8")
    return directory


def load_tiny_sticker_pipeline(model_dir: Path, styles_dir: Path, **model: object):
    """A StickerPipeline on the tiny model on the CPU; `model` are `ModelConfig` fields. For module-scoped
    fixtures: the hub is kept offline while loading (the autouse fixture is function-scoped)."""
    import os

    from generator.options import ModelConfig
    from generator.pipeline import StickerPipeline
    from generator.styles import StyleRegistry

    saved = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        cfg = ModelConfig(path=str(model_dir), device="cpu", local_files_only=True, **model)
        return StickerPipeline.load(cfg, StyleRegistry.load(styles_dir))
    finally:
        if saved is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved


@pytest.fixture(scope="module")
def tiny_sticker_pipeline(tiny_model_dir: Path, tiny_styles_dir: Path):
    """A StickerPipeline on the tiny model in fp32 on the CPU, with the tiny styles prepared."""
    return load_tiny_sticker_pipeline(tiny_model_dir, tiny_styles_dir, dtype="float32")
