"""`styles train`: from a folder of sticker images to an installed style (LoRA + YAML + preview).

Steps: check and load the images (`data.py`), load the model exactly as the engine does
(`generator.model.load_pipeline`, with the speed switches that would change the UNet's layers
turned off), cache latents and text conditioning, train the LoRA (`lora_train.py`), export it
with a style file (`export.py`). Everything goes under two chosen folders: the run folder
`<out>/<name>/` (checkpoints) and the styles folder (`<name>.yaml`, `loras/<name>.safetensors`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from diffusers import StableDiffusionXLPipeline

from generator.model import choose_device, load_pipeline
from generator.options import ModelConfig
from generator.styles import NAMED_BACKGROUNDS, StyleSpec
from generator.training.data import RGB, load_dataset, parse_color
from generator.training.errors import StudioError
from generator.training.export import LoraFormat, StyleDraft, check_draft, check_free, export_style
from generator.training.lora_train import LoraTrainer, Precision, TrainResult, TrainSettings, autocast_dtype
from generator.training.objective import encode_examples
from generator.training.paths import prepare_dir, validate_name

log = logging.getLogger(__name__)

DEFAULT_TRIGGER = "dm-sticker"


@dataclass
class StyleTrainJob:
    name: str
    images: Path
    subject: str
    trigger: str = DEFAULT_TRIGGER
    description: str = ""
    background: str = "white"  # a style background: a name or "#rrggbb"
    resolution: int = 512
    settings: TrainSettings = field(default_factory=TrainSettings)
    out_dir: Path = Path("runs")
    styles_dir: Path = Path("styles")
    resume: bool = False
    overwrite: bool = False
    lora_format: LoraFormat = "diffusers"


@dataclass
class TrainOutcome:
    style: StyleSpec
    result: TrainResult
    loss_before: float
    loss_after: float
    pipe: StableDiffusionXLPipeline  # the base model again (adapter removed), for a preview


def training_model_config(model: ModelConfig, precision: Precision) -> ModelConfig:
    """The engine's model settings minus what changes the UNet's layers (fused QKV, compile, tiny VAE)."""
    device = choose_device(model.model_copy(update={"dtype": "float32"})).device
    amp = autocast_dtype(precision, device)  # None: train in fp32
    name = "float16" if amp == torch.float16 else "bfloat16" if amp == torch.bfloat16 else "float32"
    changes = {"fuse_qkv": False, "channels_last": False, "compile": "off", "tiny_vae": None, "warmup": False}
    return model.model_copy(update={"dtype": name, **changes})


def load_training_pipeline(model: ModelConfig, precision: Precision) -> StableDiffusionXLPipeline:
    return load_pipeline(training_model_config(model, precision), speedups=False).pipe


def resolve_background(value: str) -> RGB:
    """A style background ("white", "#aabbcc") as RGB, by the style schema's names."""
    return NAMED_BACKGROUNDS.get(value.strip().lower()) or parse_color(value)


def train_style(
    job: StyleTrainJob,
    model: ModelConfig,
    *,
    pipe: StableDiffusionXLPipeline | None = None,
    progress: bool = True,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainOutcome:
    """Run a whole `styles train` job and return the installed style."""
    validate_name(job.name)
    job.settings.validate()
    if job.resolution % 8 or not 64 <= job.resolution <= 1024:
        raise StudioError("--resolution must be a multiple of 8 from 64 to 1024.")
    check_free(job.styles_dir, job.name, overwrite=job.overwrite or job.resume)
    background = resolve_background(job.background)
    draft = StyleDraft(
        name=job.name,
        description=job.description or f"{job.subject} stickers",
        subject=job.subject,
        triggers=[job.trigger] if job.trigger else [],
        background=job.background,
    )
    check_draft(job.styles_dir, draft)
    examples = load_dataset(
        job.images, resolution=job.resolution, background=background, trigger=job.trigger, fit="pad"
    )
    run_dir = prepare_dir(job.out_dir, job.name)
    pipe = pipe if pipe is not None else load_training_pipeline(model, job.settings.precision)
    data = encode_examples(pipe, [e.image for e in examples], [e.caption for e in examples])
    info = {"name": job.name, "model": model.path, "resolution": job.resolution, "kind": "style"}
    result, before, after = LoraTrainer(pipe, job.settings).fit(
        data, run_dir, judge=data, resume=job.resume, run_info=info, progress=progress, on_step=on_step
    )
    if not job.description:
        draft.description = f"{job.subject} stickers (trained on {len(examples)} images)"
    spec = export_style(job.styles_dir, draft, result.lora, overwrite=True, lora_format=job.lora_format)
    log.info("style %s written to %s (loss %.4f -> %.4f)", job.name, spec.file, before, after)
    return TrainOutcome(spec, result, before, after, pipe)
