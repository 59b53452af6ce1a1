"""Teaching a subject as a Ray task (`engine.backend: ray`): the photos travel as bytes, progress comes
back through a Ray queue, the LoRA and the preview are written where the local worker writes them."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image

from bot.config import ModelConfig
from bot.teaching.ray_runner import RayTrainer
from bot.teaching.runner import TrainSpec
from tests.teach.helpers import dog_photo

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(600)]


async def test_a_subject_trains_on_the_cluster_with_progress(
    ray_cluster: None, tiny_model_dir: Path, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):
        (photos / f"photo_{i:02d}.png").write_bytes(dog_photo(i, fmt="PNG"))
    model = ModelConfig(path=str(tiny_model_dir), device="cpu", local_files_only=True, compile="off")
    spec = TrainSpec(
        photos=str(photos),
        run_dir=str(tmp_path / "run"),
        lora_path=str(tmp_path / "loras" / "dog.safetensors"),
        token="sks dog",
        model=model.model_dump(mode="json"),
        steps=4,
        rank=4,
        learning_rate=1e-3,
        resolution=64,
        checkpoint_every=2,
        preview_path=str(tmp_path / "previews" / "dog.png"),
    )
    steps: list[int] = []

    async def progress(step: int, total: int, rate: float) -> None:
        assert total == 4 and rate > 0
        steps.append(step)

    output = await RayTrainer("auto").train(spec, progress)
    assert steps and steps[-1] == 4  # every step reported through the queue (drained in order)
    assert steps == sorted(steps)
    lora = await asyncio.to_thread(Path(output.lora).read_bytes)
    assert output.lora == spec.lora_path and len(lora) > 1000
    assert not await asyncio.to_thread((tmp_path / "run").exists)  # checkpoints stayed on the node
    assert output.preview == spec.preview_path
    with Image.open(io.BytesIO(await asyncio.to_thread(Path(spec.preview_path or "").read_bytes))) as sheet:
        assert sheet.format == "PNG"
