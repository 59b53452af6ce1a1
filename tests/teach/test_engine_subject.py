"""The engine draws "style+subject" for a request that carries a taught subject's LoRA, and only it."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from diffusers import StableDiffusionXLPipeline

from generator.api import GenerationRequest
from generator.engine import Engine
from generator.options import EngineConfig, ModelConfig
from generator.pipeline import StickerPipeline
from generator.styles import StyleRegistry, load_style_file
from generator.subject_styles import subject_style_name

pytestmark = pytest.mark.slow


def otter_style(folder: Path, lora: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "otter.yaml").write_text(
        "name: otter\ndescription: an otter\ntrigger: dm-sticker\nsubject: otter\n"
        f"loras:\n  - source: {lora}\n    scale: 1.0\n",
        encoding="utf-8",
    )
    return folder


async def test_subject_lora_is_fused_for_that_request_only(
    tmp_path: Path, tiny_model_dir: Path, tiny_lora_files: list[Path]
) -> None:
    styles = StyleRegistry(
        [load_style_file(otter_style(tmp_path / "styles", tiny_lora_files[1]) / "otter.yaml")]
    )
    pipe = StableDiffusionXLPipeline.from_pretrained(tiny_model_dir, local_files_only=True)
    holder: list[StickerPipeline] = []

    def factory() -> StickerPipeline:
        holder.append(StickerPipeline.from_pipeline(pipe, styles, ModelConfig(compile="off", prompt_cache=0)))
        holder[0].max_subject_styles = 1
        return holder[0]

    engine = Engine(factory, styles.summaries(), EngineConfig(max_wait_ms=0), warmup=False)
    await engine.start()
    try:
        base = GenerationRequest(
            prompt="waving, sks dog, sticker", style="otter", seed=11, width=64, height=64
        )
        subject = str(tiny_lora_files[0])
        plain = await engine.generate(base)
        taught = await engine.generate(GenerationRequest(**{**_fields(base), "subject_lora": subject}))
        again = await engine.generate(base)
        name = subject_style_name("otter", subject)
        assert list(holder[0]._subjects) == [name]  # the subject's LoRA was loaded for that request
        assert taught.stickers[0].webp != plain.stickers[0].webp  # ... and changed the drawing
        assert again.stickers[0].webp == plain.stickers[0].webp  # the base style is back, unchanged

        other = tmp_path / "other.safetensors"
        await asyncio.to_thread(shutil.copyfile, tiny_lora_files[1], other)
        await engine.generate(GenerationRequest(**{**_fields(base), "subject_lora": str(other)}))
        assert list(holder[0]._subjects) == [subject_style_name("otter", str(other))]  # LRU bound of 1
    finally:
        await engine.close()


def _fields(request: GenerationRequest) -> dict[str, object]:
    return {name: getattr(request, name) for name in request.__slots__}  # type: ignore[attr-defined]
