"""Small helpers shared by the studio tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from diffusers import StableDiffusionXLPipeline

from generator.options import ModelConfig

PROMPT = "happy, otter, dm-sticker"
SIZE = 64


def tiny_model_config(model_dir: Path) -> ModelConfig:
    return ModelConfig(
        path=str(model_dir), device="cpu", dtype="float32", local_files_only=True, warmup=False
    )


def generate(pipe: StableDiffusionXLPipeline, prompt: str = PROMPT, seed: int = 7) -> np.ndarray:
    """One image as float array in [0, 1], the engine's settings (1 step, no guidance)."""
    output = pipe(
        prompt=[prompt],
        num_inference_steps=1,
        guidance_scale=0.0,
        width=SIZE,
        height=SIZE,
        generator=[torch.Generator().manual_seed(seed)],
        output_type="np",
    )
    return np.asarray(output.images[0], dtype=np.float32)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())
