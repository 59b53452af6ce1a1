"""The real thing on the tiny model: training in a subprocess, resume after a kill, and the sticker
service drawing "my dog" with the taught LoRA, then forgetting it."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image

from bot.config import AppConfig, EngineConfig, ModelConfig, TeachConfig
from bot.service import with_storage_under
from bot.teaching.runner import SubprocessTrainer, TrainSpec
from bot.teaching.service import Teacher, TeachProgress
from bot.teaching.wiring import attach_teaching
from bot.types import StickerRequest
from generator.api import GenerationRequest
from generator.engine import build_engine
from generator.subject_styles import subject_style_name
from tests.fakes.service_factory import GENEROUS_LIMITS, make_service
from tests.teach.helpers import dog_photo, dog_photos
from tests.teach.test_engine_subject import otter_style

pytestmark = pytest.mark.slow


def tiny_model(model_dir: Path) -> ModelConfig:
    return ModelConfig(path=str(model_dir), device="cpu", local_files_only=True, compile="off", warmup=False)


def tiny_teach_config(tmp_path: Path, tiny_model_dir: Path, style_lora: Path) -> AppConfig:
    """The tiny model, an "otter" style from `style_lora` and a quick 4-step teach: the end-to-end setup."""
    return AppConfig(
        model=tiny_model(tiny_model_dir),
        engine=EngineConfig(
            styles_dir=str(otter_style(tmp_path / "styles", style_lora)),
            default_style="otter",
            max_wait_ms=0,
        ),
        limits=GENEROUS_LIMITS,
        teach=TeachConfig(
            enabled=True,
            data_dir=str(tmp_path / "teach"),
            steps=4,
            rank=4,
            learning_rate=1e-2,
            resolution=64,
            checkpoint_every=2,
            min_photo_side=64,
        ),
    )


async def test_a_killed_training_resumes_from_its_checkpoint(tmp_path: Path, tiny_model_dir: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):
        (photos / f"photo_{i}.jpg").write_bytes(dog_photo(i))
    spec = TrainSpec(
        photos=str(photos),
        run_dir=str(tmp_path / "run"),
        lora_path=str(tmp_path / "out" / "dog.safetensors"),
        token="sks dog",
        model=tiny_model(tiny_model_dir).model_dump(mode="json"),
        steps=6,
        rank=4,
        learning_rate=1e-3,
        resolution=64,
        checkpoint_every=2,
    )
    trainer = SubprocessTrainer()
    seen: list[int] = []

    async def stop_after_three(step: int, steps: int, rate: float) -> None:
        seen.append(step)
        if step >= 3:
            raise asyncio.CancelledError  # the bot stops: the child is killed

    with pytest.raises(asyncio.CancelledError):
        await trainer.train(spec, stop_after_three)
    assert not await asyncio.to_thread(Path(spec.lora_path).exists)  # nothing half-written
    assert await asyncio.to_thread((tmp_path / "run" / "checkpoints" / "step-000002").is_dir)

    resumed: list[int] = []

    async def record(step: int, steps: int, rate: float) -> None:
        resumed.append(step)

    output = await trainer.train(spec, record)
    assert resumed[0] == 3 and resumed[-1] == 6  # continued after the step-2 checkpoint
    assert await asyncio.to_thread(Path(output.lora).is_file) and output.preview is None


async def test_teach_then_sticker_my_dog_uses_the_lora_then_forget(
    tmp_path: Path, tiny_model_dir: Path, tiny_lora_files: list[Path]
) -> None:
    config = tiny_teach_config(tmp_path, tiny_model_dir, tiny_lora_files[1])
    config = with_storage_under(config, tmp_path)
    engine = build_engine(config.model, config.engine)
    service = await make_service(tmp_path, engine=engine, config=config)
    try:
        teaching = await attach_teaching(service)
        assert teaching is not None
        events: list[TeachProgress] = []
        done = asyncio.Event()

        def listen(event: TeachProgress) -> None:
            events.append(event)
            if event.status in ("done", "failed"):
                done.set()

        who = Teacher("web", "room1", "alice")
        accepted = await teaching.teach(who, "dog", dog_photos(4), listen)
        async with asyncio.timeout(300):
            await done.wait()
        assert events[-1].status == "done", events[-1].message
        assert any(e.status == "running" and 0 < e.step for e in events)
        with Image.open(io.BytesIO(events[-1].preview or b"")) as sheet:
            assert sheet.format == "PNG" and sheet.width > 256  # the eight-expression preview sheet

        ask = StickerRequest(
            platform="web",
            user_id="alice",
            conversation_id="room1",
            server_id="room1",
            text="my dog waving seed:5",
        )
        reply = await service.handle(ask)
        assert reply.error is None and "sks dog" in reply.prompt
        lora = str(tmp_path / "teach" / "loras" / f"{accepted.job_id}.safetensors")
        assert subject_style_name("otter", lora) in engine._pipeline._subjects  # type: ignore[union-attr]
        base = await engine.generate(GenerationRequest(prompt=reply.prompt, style="otter", seed=5))
        assert base.stickers[0].webp != reply.stickers[0].data  # same seed, without the subject: different
        stranger = await service.handle(
            StickerRequest(
                platform="web",
                user_id="bob",
                conversation_id="room1",
                server_id="room1",
                text="my dog waving seed:5",
            )
        )
        assert stranger.error is None and "sks" not in stranger.prompt  # alice's dog is private

        await teaching.forget(who, "dog")
        assert not list((tmp_path / "teach").rglob("*.safetensors"))
        assert not list((tmp_path / "teach").rglob("*.png"))
        assert await teaching.store.user_subjects("web", "alice") == []
    finally:
        await service.close()
