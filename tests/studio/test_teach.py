"""Teaching one subject (DreamBooth-style): the loss on its photos falls and the identifier draws it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from diffusers import StableDiffusionXLPipeline
from PIL import Image, ImageDraw

from generator.options import ModelConfig
from generator.pipeline import StickerPipeline
from generator.styles import StyleRegistry
from generator.training.errors import DatasetError, StudioError
from generator.training.lora_train import TrainSettings
from generator.training.teach import TeachJob, teach_subject
from tests.studio.helpers import SIZE, generate


def cat_photos(folder: Path, count: int) -> Path:
    """`count` photos of one striped "cat", shot from slightly different places."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        photo = Image.new("RGB", (96, 80), (90 + 10 * i, 140, 90))
        draw = ImageDraw.Draw(photo)
        draw.ellipse((20 + 3 * i, 15, 76 + 3 * i, 70), fill=(230, 140, 40))
        for stripe in range(3):
            draw.line(
                (30 + 3 * i + 12 * stripe, 20, 36 + 3 * i + 12 * stripe, 60), fill=(60, 30, 10), width=3
            )
        photo.save(folder / f"IMG_{i:04d}.jpg", quality=95)
    return folder


def make_job(tmp_path: Path, photos: Path, **changes: object) -> TeachJob:
    job = TeachJob(
        name="mycat",
        photos=photos,
        class_noun="cat",
        prior_images=2,
        resolution=SIZE,
        settings=TrainSettings(steps=12, rank=4, learning_rate=1e-2, batch_size=2, checkpoint_every=100),
        out_dir=tmp_path / "runs",
        styles_dir=tmp_path / "styles",
    )
    for key, value in changes.items():
        setattr(job, key, value)
    return job


def test_teaching_lowers_the_loss_and_the_identifier_draws_the_subject(
    tmp_path: Path, tiny_model_dir: Path, tiny_pipe: StableDiffusionXLPipeline
) -> None:
    job = make_job(tmp_path, cat_photos(tmp_path / "photos", 4))
    outcome = teach_subject(job, ModelConfig(path=str(tiny_model_dir)), pipe=tiny_pipe, progress=False)

    assert outcome.loss_after < outcome.loss_before * 0.97
    spec = outcome.style
    assert spec.subject == "sks cat"
    prompt = spec.build_prompt("sleeping")
    assert prompt == "sleeping, sks cat, sticker"

    base = generate(tiny_pipe, prompt)  # the adapter is gone: this is the base model again
    engine = StickerPipeline.from_pipeline(
        StableDiffusionXLPipeline.from_pretrained(tiny_model_dir, local_files_only=True),
        StyleRegistry.load(tmp_path / "styles", strict=True),
        ModelConfig(compile="off"),
    )
    engine.activate_style("mycat")
    (taught,) = engine.run([prompt], [""], [7], 1, SIZE, SIZE)
    # The taught LoRA changes what "sks cat" draws. (The random tiny text encoders barely tell
    # prompts apart, so the subject's binding is measured by the loss above, not by prompt contrast.)
    assert np.abs(np.asarray(taught, dtype=np.float32) / 255 - base).max() > 0.02


def test_teach_checks_its_input(tmp_path: Path, tiny_pipe: StableDiffusionXLPipeline) -> None:
    model = ModelConfig(path="tiny")
    with pytest.raises(DatasetError, match="needs 3 to 10"):
        teach_subject(make_job(tmp_path, cat_photos(tmp_path / "two", 2)), model, pipe=tiny_pipe)
    photos = cat_photos(tmp_path / "photos", 3)
    with pytest.raises(StudioError, match="--class"):
        teach_subject(make_job(tmp_path, photos, class_noun="Cat!"), model, pipe=tiny_pipe)
    with pytest.raises(StudioError, match="--identifier"):
        teach_subject(make_job(tmp_path, photos, identifier="s k s"), model, pipe=tiny_pipe)
    with pytest.raises(StudioError, match="Invalid style name"):
        teach_subject(make_job(tmp_path, photos, name="../cat"), model, pipe=tiny_pipe)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "styles").exists()
