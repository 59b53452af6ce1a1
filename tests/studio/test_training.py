"""Training a style on the tiny model: loss goes down, the LoRA is portable, runs resume exactly."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionXLPipeline
from safetensors.torch import load_file

from generator.options import ModelConfig
from generator.pipeline import StickerPipeline
from generator.styles import StyleRegistry
from generator.training.errors import StudioError
from generator.training.lora_train import TrainSettings
from generator.training.style_training import StyleTrainJob, train_style
from tests.studio.helpers import PROMPT, SIZE, files_under, generate, tiny_model_config

ALLOWED_SUFFIXES = {".safetensors", ".json", ".yaml", ".png"}


def make_job(tmp_path: Path, images: Path, **settings: object) -> StyleTrainJob:
    values: dict[str, object] = {
        "steps": 12,
        "rank": 4,
        "learning_rate": 1e-2,
        "batch_size": 2,
        "checkpoint_every": 4,
    }
    values.update(settings)
    return StyleTrainJob(
        name="otter",
        images=images,
        subject="otter",
        resolution=SIZE,
        settings=TrainSettings(**values),  # type: ignore[arg-type]
        out_dir=tmp_path / "runs",
        styles_dir=tmp_path / "styles",
    )


def test_training_lowers_the_loss_and_writes_only_safe_files(
    tmp_path: Path, tiny_model_dir: Path, make_images: Callable[..., Path]
) -> None:
    job = make_job(tmp_path, make_images(4))
    outcome = train_style(job, tiny_model_config(tiny_model_dir), progress=False)

    assert outcome.loss_after < outcome.loss_before * 0.97
    assert len(outcome.result.losses) == 12
    assert np.mean(outcome.result.losses[-4:]) < np.mean(outcome.result.losses[:4])
    spec = outcome.style
    assert spec.name == "otter" and spec.subject == "otter" and spec.triggers == ("dm-sticker",)
    lora_path = tmp_path / "styles" / "loras" / "otter.safetensors"
    assert [ref.local_path for ref in spec.loras] == [lora_path.resolve()]
    keys = load_file(str(lora_path)).keys()
    assert keys and all(k.startswith("unet.") and (".lora_A." in k or ".lora_B." in k) for k in keys)
    assert {k.split(".lora_")[0].rsplit(".", 1)[-1] for k in keys} == {"to_q", "to_k", "to_v", "0"}
    written = files_under(tmp_path / "runs") + files_under(tmp_path / "styles")
    assert {p.suffix for p in written} <= ALLOWED_SUFFIXES
    assert sorted(p.name for p in (tmp_path / "runs" / "otter" / "checkpoints").iterdir()) == [
        "step-000008",
        "step-000012",
    ]


def test_the_saved_lora_loads_in_plain_diffusers_and_in_the_engine(
    tmp_path: Path, tiny_model_dir: Path, make_images: Callable[..., Path]
) -> None:
    job = make_job(tmp_path, make_images(4), steps=10, learning_rate=2e-2)
    train_style(job, tiny_model_config(tiny_model_dir), progress=False)

    pipe = StableDiffusionXLPipeline.from_pretrained(tiny_model_dir, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    base = generate(pipe)
    pipe.load_lora_weights(str(tmp_path / "styles" / "loras"), weight_name="otter.safetensors")
    with_lora = generate(pipe)
    assert np.abs(with_lora - base).max() > 0.02  # the LoRA changes the picture

    engine_pipe = StableDiffusionXLPipeline.from_pretrained(tiny_model_dir, local_files_only=True)
    registry = StyleRegistry.load(tmp_path / "styles", strict=True)
    sticker_pipe = StickerPipeline.from_pipeline(engine_pipe, registry, ModelConfig(compile="off"))
    sticker_pipe.activate_style("otter")
    (image,) = sticker_pipe.run([PROMPT], [""], [7], 1, SIZE, SIZE)
    engine = np.asarray(image, dtype=np.float32) / 255.0
    assert np.abs(engine - with_lora).max() < 2.5 / 255  # fused in the engine == loaded in diffusers


def test_resume_continues_exactly_where_the_run_stopped(
    tmp_path: Path, tiny_pipe: StableDiffusionXLPipeline, make_images: Callable[..., Path]
) -> None:
    images = make_images(3)
    model = ModelConfig(path="tiny")
    straight = train_style(make_job(tmp_path / "a", images, steps=8), model, pipe=tiny_pipe, progress=False)

    interrupted = make_job(tmp_path / "b", images, steps=4)
    train_style(interrupted, model, pipe=tiny_pipe, progress=False)
    resumed_job = make_job(tmp_path / "b", images, steps=8)
    resumed_job.resume = True
    resumed = train_style(resumed_job, model, pipe=tiny_pipe, progress=False)

    assert resumed.result.start_step == 4 and resumed.result.final_step == 8
    assert resumed.result.losses == pytest.approx(straight.result.losses, rel=1e-5)
    for key, value in straight.result.lora.items():
        torch.testing.assert_close(resumed.result.lora[key], value, rtol=1e-5, atol=1e-6)
    state = json.loads((tmp_path / "b/runs/otter/checkpoints/step-000008/state.json").read_text())
    assert state["step"] == 8 and len(state["losses"]) == 8


def test_resume_refuses_what_cannot_continue(
    tmp_path: Path, tiny_pipe: StableDiffusionXLPipeline, make_images: Callable[..., Path]
) -> None:
    images = make_images(2)
    model = ModelConfig(path="tiny")
    nothing = make_job(tmp_path, images, steps=2)
    nothing.resume = True
    with pytest.raises(StudioError, match="Nothing to resume"):
        train_style(nothing, model, pipe=tiny_pipe, progress=False)

    train_style(make_job(tmp_path, images, steps=2), model, pipe=tiny_pipe, progress=False)
    again = make_job(tmp_path, images, steps=4)
    again.overwrite = True
    with pytest.raises(StudioError, match="already has checkpoints; pass --resume"):
        train_style(again, model, pipe=tiny_pipe, progress=False)
    other_rank = make_job(tmp_path, images, steps=4, rank=8)
    other_rank.resume = True
    with pytest.raises(StudioError, match="rank=4, not 8"):
        train_style(other_rank, model, pipe=tiny_pipe, progress=False)


def test_gradient_checkpointing_gives_the_same_training(
    tmp_path: Path, tiny_pipe: StableDiffusionXLPipeline, make_images: Callable[..., Path]
) -> None:
    images = make_images(2)
    model = ModelConfig(path="tiny")
    plain = train_style(make_job(tmp_path / "a", images, steps=3), model, pipe=tiny_pipe, progress=False)
    checkpointed_job = make_job(tmp_path / "b", images, steps=3, gradient_checkpointing="on")
    checkpointed = train_style(checkpointed_job, model, pipe=tiny_pipe, progress=False)
    assert checkpointed.result.losses == pytest.approx(plain.result.losses, rel=1e-5)
