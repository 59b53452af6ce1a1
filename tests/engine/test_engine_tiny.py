"""The engine end to end on the real diffusers pipeline (tiny random-weight model, CPU).

Loads through `build_engine` → `StickerPipeline.load` → `from_pretrained`, exactly like production.
Images are 128x128 to keep the tests fast; post-processing scales stickers to 512.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.fixtures import write_style
from generator.api import GenerationRequest, ModelMissing, StyleSummary
from generator.engine import Engine, build_engine
from generator.options import EngineConfig, ModelConfig
from generator.styles import StyleRegistry

SIDE = 128
TOLERANCE = 3 / 255  # batched vs alone: bf16/fp32 kernels may round differently with another batch shape


@pytest.fixture(scope="module")
def styles_dir(tmp_path_factory: pytest.TempPathFactory, tiny_lora_files: list[Path]) -> Path:
    directory = tmp_path_factory.mktemp("engine-styles")
    write_style(directory, "plain")
    write_style(directory, "fused", loras=[(tiny_lora_files[0], 1.0), (tiny_lora_files[1], 0.5)])
    return directory


@pytest.fixture
def model_cfg(tiny_model_dir: Path) -> ModelConfig:
    return ModelConfig(path=str(tiny_model_dir), local_files_only=True, compile="off", warmup=False)


class RawCapture:
    """A finisher that keeps each generated image (as float pixels) and encodes it losslessly.

    With one post-processing thread, images arrive in submission order: index i is seed + i.
    """

    def __init__(self) -> None:
        self.images: dict[str, list[np.ndarray]] = {}

    def __call__(self, image: Image.Image, style: StyleSummary, request: GenerationRequest) -> bytes:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255
        self.images.setdefault(request.request_id, []).append(pixels)
        buffer = io.BytesIO()
        image.convert("RGBA").save(buffer, "WEBP", lossless=True)
        return buffer.getvalue()


def capture_engine(model_cfg: ModelConfig, styles_dir: Path, capture: RawCapture, **config) -> Engine:
    from generator.pipeline import StickerPipeline

    registry = StyleRegistry.load(styles_dir)
    engine_cfg = EngineConfig(styles_dir=str(styles_dir), max_wait_ms=0, **config)
    return Engine(
        lambda: StickerPipeline.load(model_cfg, registry),
        registry.summaries(),
        engine_cfg,
        finisher=capture,
        postprocess_workers=1,  # RawCapture counts images per request in order
    )


def request(prompt: str, seed: int, count: int = 1, style: str = "plain", tag: str = "") -> GenerationRequest:
    return GenerationRequest(
        prompt=prompt, style=style, seed=seed, count=count, width=SIDE, height=SIDE, request_id=tag
    )


async def test_real_engine_makes_decodable_stickers(model_cfg: ModelConfig, styles_dir: Path):
    engine = build_engine(model_cfg, EngineConfig(styles_dir=str(styles_dir), default_style="plain"))
    await engine.start()
    try:
        result = await engine.generate(request("eating otter, otter, dm-sticker", seed=5, count=2))
    finally:
        await engine.close()
    assert [s.seed for s in result.stickers] == [5, 6]
    for sticker in result.stickers:
        with Image.open(io.BytesIO(sticker.webp)) as img:
            assert img.format == "WEBP"
            assert img.mode == "RGBA"
            assert max(img.size) == 512 == max(sticker.width, sticker.height)
        assert len(sticker.webp) < 512_000


async def test_same_seed_same_image_batched_and_alone(model_cfg: ModelConfig, styles_dir: Path):
    capture = RawCapture()
    engine = capture_engine(model_cfg, styles_dir, capture)
    await engine.start()
    try:
        await engine.generate(request("happy otter", seed=40, count=3, tag="batched"))
        for i in range(3):
            await engine.generate(request("happy otter", seed=40 + i, tag="alone"))
        await engine.generate(request("happy otter", seed=41, tag="again"))
    finally:
        await engine.close()
    assert list(engine.stats().batch_sizes) == [3, 1, 1, 1, 1]
    batched = capture.images["batched"]
    alone = capture.images["alone"]
    for one, other in zip(batched, alone, strict=True):
        assert np.abs(one - other).max() <= TOLERANCE
    assert np.array_equal(alone[1], capture.images["again"][0])
    assert np.abs(alone[0] - alone[1]).mean() > 0.01  # different seeds really differ


async def test_concurrent_requests_are_micro_batched(model_cfg: ModelConfig, styles_dir: Path):
    capture = RawCapture()
    engine = capture_engine(model_cfg, styles_dir, capture, max_batch_size=4)
    await engine.start()  # returns while the model loads; these requests queue meanwhile
    try:
        results = await asyncio.gather(
            *(engine.generate(request(f"otter number {i}", seed=i, tag="c")) for i in range(4)),
            engine.generate(request("fused otter", seed=9, style="fused", tag="c")),
        )
    finally:
        await engine.close()
    assert len(results) == 5
    assert sorted(engine.stats().batch_sizes) == [1, 4]  # 5 requests, 2 pipeline calls, styles apart
    assert engine.stats().switches == 2


async def test_fused_style_changes_the_image(model_cfg: ModelConfig, styles_dir: Path):
    capture = RawCapture()
    engine = capture_engine(model_cfg, styles_dir, capture)
    await engine.start()
    try:
        for style in ("plain", "fused", "plain"):
            await engine.generate(request("otter", seed=3, style=style, tag=style))
    finally:
        await engine.close()
    first_plain, second_plain = capture.images["plain"]
    assert not np.array_equal(first_plain, capture.images["fused"][0])  # the fused LoRAs act
    assert np.array_equal(first_plain, second_plain)  # switching back restores the base weights exactly
    assert engine.stats().switches == 3


async def test_missing_model_gives_one_clear_error(tmp_path: Path, styles_dir: Path):
    cfg = ModelConfig(path=str(tmp_path / "no-such-model"), local_files_only=True, warmup=False)
    engine = build_engine(cfg, EngineConfig(styles_dir=str(styles_dir)))
    await engine.start()
    try:
        with pytest.raises(ModelMissing) as info:
            await engine.generate(request("otter", seed=1))
    finally:
        await engine.close()
    assert "no-such-model" in info.value.user_message
    assert "\n" not in info.value.user_message
