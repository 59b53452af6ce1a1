"""Teach test fixtures: a TeachService on SQLite under tmp_path, with a trainer chosen per test."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from PIL import Image

from bot.config import ModelConfig, TeachConfig
from bot.storage import open_database
from bot.teaching.runner import Progress, TrainOutput, TrainSpec
from bot.teaching.service import TeachService


class StepTrainer:
    """A trainer for the service's own logic (queue, store, files): steps on command, then writes a
    small file where the LoRA goes. The real training subprocess has its own tests (test_worker.py)."""

    def __init__(self, steps_per_call: int | None = None) -> None:
        self.calls: list[TrainSpec] = []
        self.release = asyncio.Event()
        self.steps_per_call = steps_per_call

    async def train(self, spec: TrainSpec, progress: Progress) -> TrainOutput:
        self.calls.append(spec)
        await progress(1, spec.steps, 0.01)
        await self.release.wait()
        await progress(spec.steps, spec.steps, 0.01)
        await asyncio.to_thread(_write_outputs, spec)
        return TrainOutput(spec.lora_path, spec.preview_path, 1.0, 0.5)


def _write_outputs(spec: TrainSpec) -> None:
    sheet = io.BytesIO()
    Image.new("RGB", (64, 32), (240, 200, 120)).save(sheet, format="PNG")
    for path, data in ((spec.lora_path, b"lora"), (spec.preview_path or "", sheet.getvalue())):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)


def teach_config(tmp_path: Path, **changes: object) -> TeachConfig:
    values: dict[str, object] = {"enabled": True, "data_dir": str(tmp_path / "teach"), "steps": 10}
    values.update(changes)
    return TeachConfig(**values)


@pytest.fixture
async def make_teaching(tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    made: list[TeachService] = []
    databases = []

    async def make(trainer: object, **changes: object) -> TeachService:
        db = await open_database(f"sqlite:///{tmp_path}/teach.db")
        databases.append(db)
        service = TeachService(
            teach_config(tmp_path, **changes),
            ModelConfig(device="cpu"),
            db,
            trainer=trainer,  # type: ignore[arg-type]
        )
        await service.start()
        made.append(service)
        return service

    yield make
    for service in made:
        await service.close()
    for db in databases:
        await db.close()
