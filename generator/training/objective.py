"""The SDXL training objective: noise-prediction MSE with the same text conditioning as inference.

Frozen parts (VAE, both text encoders) run once per example: latents are cached as their
Gaussian (mean, std) and re-sampled every step; prompt embeddings and pooled embeddings come
from the pipeline's own `encode_prompt`, so training sees exactly what generation sees.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, StableDiffusionXLPipeline
from PIL import Image

ENCODE_BATCH = 8


@dataclass
class EncodedExamples:
    """Cached conditioning and latents of a dataset (CPU, fp32)."""

    latent_mean: torch.Tensor  # (n, 4, h, w), already multiplied by the VAE scaling factor
    latent_std: torch.Tensor
    prompt_embeds: torch.Tensor  # (n, 77, cross_attention_dim)
    pooled_embeds: torch.Tensor  # (n, pooled_dim)
    weights: torch.Tensor  # (n,) loss weight of each example (prior-preservation images get theirs)
    resolution: int

    def __len__(self) -> int:
        return int(self.latent_mean.shape[0])

    @staticmethod
    def concat(parts: Sequence[EncodedExamples]) -> EncodedExamples:
        return EncodedExamples(
            latent_mean=torch.cat([p.latent_mean for p in parts]),
            latent_std=torch.cat([p.latent_std for p in parts]),
            prompt_embeds=torch.cat([p.prompt_embeds for p in parts]),
            pooled_embeds=torch.cat([p.pooled_embeds for p in parts]),
            weights=torch.cat([p.weights for p in parts]),
            resolution=parts[0].resolution,
        )


def image_batch(images: Sequence[Image.Image]) -> torch.Tensor:
    """RGB PIL images -> (n, 3, H, W) float tensor in [-1, 1]."""
    arrays = np.stack([np.asarray(image.convert("RGB"), dtype=np.float32) for image in images])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2) / 127.5 - 1.0


@torch.no_grad()
def encode_examples(
    pipe: StableDiffusionXLPipeline,
    images: Sequence[Image.Image],
    captions: Sequence[str],
    *,
    weight: float = 1.0,
) -> EncodedExamples:
    """Run the frozen VAE encoder and text encoders over a dataset once."""
    if len(images) != len(captions) or not images:
        raise ValueError("encode_examples needs one caption per image and at least one image")
    resolution = images[0].width
    device = pipe.unet.device
    vae = pipe.vae
    vae_dtype = torch.float32 if getattr(vae.config, "force_upcast", False) else vae.dtype
    original_dtype = vae.dtype
    if vae_dtype != original_dtype:
        vae.to(dtype=vae_dtype)
    scale = float(vae.config.scaling_factor)
    shift = float(getattr(vae.config, "shift_factor", None) or 0.0)
    means, stds, embeds, pooled = [], [], [], []
    try:
        for start in range(0, len(images), ENCODE_BATCH):
            pixels = image_batch(images[start : start + ENCODE_BATCH]).to(device, vae_dtype)
            dist = vae.encode(pixels).latent_dist
            means.append(((dist.mean.float() - shift) * scale).cpu())
            stds.append((dist.std.float() * scale).cpu())
            prompt_embeds, _, pooled_embeds, _ = pipe.encode_prompt(
                prompt=list(captions[start : start + ENCODE_BATCH]),
                device=device,
                num_images_per_prompt=1,
                do_classifier_free_guidance=False,
            )
            embeds.append(prompt_embeds.float().cpu())
            pooled.append(pooled_embeds.float().cpu())
    finally:
        if vae_dtype != original_dtype:
            vae.to(dtype=original_dtype)
    return EncodedExamples(
        latent_mean=torch.cat(means),
        latent_std=torch.cat(stds),
        prompt_embeds=torch.cat(embeds),
        pooled_embeds=torch.cat(pooled),
        weights=torch.full((len(images),), float(weight)),
        resolution=resolution,
    )


def time_ids(resolution: int, batch: int) -> torch.Tensor:
    """SDXL micro-conditioning: original size, crop (0, 0), target size — a square at `resolution`."""
    row = torch.tensor([resolution, resolution, 0, 0, resolution, resolution], dtype=torch.float32)
    return row.repeat(batch, 1)


def noise_prediction_loss(
    unet: torch.nn.Module,
    scheduler: DDPMScheduler,
    data: EncodedExamples,
    index: torch.Tensor,
    generator: torch.Generator,
    *,
    autocast_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Weighted mean MSE between the UNet's prediction and the target for examples `index`.

    All randomness (latent sample, noise, timesteps) is drawn on the CPU from `generator`, so a
    run is reproducible on any device and resumes exactly from a saved generator state.
    """
    device = next(p for p in unet.parameters()).device
    mean, std = data.latent_mean[index], data.latent_std[index]
    latents = mean + std * torch.randn(mean.shape, generator=generator)
    noise = torch.randn(latents.shape, generator=generator)
    steps = int(scheduler.config.num_train_timesteps)
    timesteps = torch.randint(0, steps, (len(index),), generator=generator)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    prediction_type = scheduler.config.prediction_type
    target = noise if prediction_type == "epsilon" else scheduler.get_velocity(latents, noise, timesteps)
    weight_dtype = unet.dtype
    conditioning = {
        "text_embeds": data.pooled_embeds[index].to(device, weight_dtype),
        "time_ids": time_ids(data.resolution, len(index)).to(device, weight_dtype),
    }
    amp = torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype else contextlib.nullcontext()
    with amp:
        prediction = unet(
            noisy.to(device, weight_dtype),
            timesteps.to(device),
            encoder_hidden_states=data.prompt_embeds[index].to(device, weight_dtype),
            added_cond_kwargs=conditioning,
        ).sample
    per_example = F.mse_loss(prediction.float(), target.to(device), reduction="none").mean(dim=(1, 2, 3))
    return (per_example * data.weights[index].to(device)).mean()
