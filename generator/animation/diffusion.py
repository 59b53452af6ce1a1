"""Video diffusion: AnimateDiff for SDXL around the style's own (fused) UNet.

`AnimateDiffSDXLPipeline.from_pipe` turns the loaded SDXL pipeline's UNet into a `UNetMotionModel`
(its weights are copied at that moment, so the motion UNet carries the style fused then), shares the
VAE and text encoders, and adds the motion adapter's temporal layers. The frames come back RGB; the
clip is cut out with one background key in `generator.animation.clip_cutout`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from diffusers import AnimateDiffSDXLPipeline, MotionAdapter, StableDiffusionXLPipeline
from diffusers.utils import logging as diffusers_logging
from PIL import Image

from generator.animation.errors import AnimationUnavailable

log = logging.getLogger(__name__)

DEFAULT_MOTION_ADAPTER = "guoyww/animatediff-motion-adapter-sdxl-beta"
MIN_FRAMES, MAX_FRAMES = 8, 16
DEFAULT_FRAMES = 8


def build_tiny_motion_adapter(seed: int = 0) -> MotionAdapter:
    """A random-weight MotionAdapter that fits the tiny SDXL UNet (`generator.tiny`), as in diffusers'
    own AnimateDiff SDXL tests."""
    torch.manual_seed(seed)
    return MotionAdapter(
        block_out_channels=(32, 64),
        motion_layers_per_block=2,
        motion_norm_num_groups=2,
        motion_num_attention_heads=4,
        use_motion_mid_block=False,
    )


def save_tiny_motion_adapter(directory: str | Path, seed: int = 0) -> Path:
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    build_tiny_motion_adapter(seed).save_pretrained(target, safe_serialization=True)
    return target


def load_motion_adapter(
    name: str | None, *, local_files_only: bool = False, dtype: torch.dtype = torch.float32
) -> MotionAdapter:
    """Load the adapter from a local directory or the hub (safetensors only); one clear line if absent."""
    if not name:
        raise AnimationUnavailable(
            "Diffusion animations are off (no model.motion_adapter); motion presets still work."
        )
    local = Path(name).expanduser()
    looks_local = local.exists() or name.startswith((".", "/", "~")) or name.count("/") != 1
    try:
        if looks_local:
            if not (local / "config.json").is_file():
                raise FileNotFoundError(name)
            return MotionAdapter.from_pretrained(local, torch_dtype=dtype, use_safetensors=True)
        return MotionAdapter.from_pretrained(
            name, torch_dtype=dtype, use_safetensors=True, local_files_only=local_files_only
        )
    except (OSError, ValueError, FileNotFoundError) as exc:
        log.warning("motion adapter %s could not be loaded: %s", name, exc)
        raise AnimationUnavailable(
            f"The motion adapter '{name}' is not installed, so diffusion animations are off; "
            "motion presets still work."
        ) from None


@contextmanager
def _quiet_diffusers() -> Iterator[None]:
    """from_pipe warns about casting modules "that should be kept in float32: []" (an empty list)."""
    previous = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    try:
        yield
    finally:
        diffusers_logging.set_verbosity(previous)


@contextmanager
def _without_fused_projections(unet: torch.nn.Module) -> Iterator[bool]:
    """Hide fused QKV weights (the `fuse_qkv` speed switch) while `from_unet2d` copies the UNet: it
    copies state dicts block by block and does not know the fused `to_qkv` / `to_kv` layers."""
    stashed: list[tuple[torch.nn.Module, str, torch.nn.Module]] = []
    for module in unet.modules():
        for name in ("to_qkv", "to_kv"):
            layer = module._modules.get(name)
            if layer is not None:
                stashed.append((module, name, layer))
                del module._modules[name]
    try:
        yield bool(stashed)
    finally:
        for module, name, layer in stashed:
            module._modules[name] = layer


class ClipDiffuser:
    """AnimateDiff around one SDXL pipeline; the motion UNet is rebuilt when the style changes."""

    def __init__(self, pipe: StableDiffusionXLPipeline, adapter: MotionAdapter) -> None:
        self.base = pipe
        if adapter.device != pipe.device or adapter.dtype != pipe.unet.dtype:
            with _quiet_diffusers():
                adapter = adapter.to(device=pipe.device, dtype=pipe.unet.dtype)
        self.adapter = adapter
        self._pipe: AnimateDiffSDXLPipeline | None = None
        self._style: str | None = None

    def pipeline(self, style: str | None) -> AnimateDiffSDXLPipeline:
        """The AnimateDiff pipeline for the currently fused `style` (built on first use per style)."""
        if self._pipe is None or style != self._style:
            self._pipe = None  # free the old motion UNet first
            with _without_fused_projections(self.base.unet) as fused, _quiet_diffusers():
                pipe = AnimateDiffSDXLPipeline.from_pipe(self.base, motion_adapter=self.adapter)
            if fused:
                pipe.unet.fuse_qkv_projections()
            if pipe.unet.device != self.base.device or pipe.unet.dtype != self.base.unet.dtype:
                with _quiet_diffusers():
                    pipe.unet.to(device=self.base.device, dtype=self.base.unet.dtype)
            pipe.set_progress_bar_config(disable=True)
            self._pipe, self._style = pipe, style
        return self._pipe

    @torch.inference_mode()
    def run(
        self,
        prompt: str,
        seed: int,
        *,
        style: str | None = None,
        negative_prompt: str | None = None,
        frames: int = DEFAULT_FRAMES,
        steps: int = 1,
        width: int = 512,
        height: int = 512,
    ) -> list[Image.Image]:
        """RGB frames of one clip; the same prompt and seed as the static sticker."""
        if not MIN_FRAMES <= frames <= MAX_FRAMES:
            raise ValueError(f"frames must be {MIN_FRAMES}-{MAX_FRAMES}")
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        pipe = self.pipeline(style)
        dtype = pipe.unet.dtype  # bf16/fp16 UNet next to fp32 text encoders or VAE: autocast joins them
        with torch.autocast(pipe.device.type, dtype=dtype, enabled=dtype != torch.float32):
            output = pipe(
                prompt=prompt,
                negative_prompt=negative_prompt or None,
                num_frames=frames,
                num_inference_steps=steps,
                guidance_scale=0.0,
                width=width,
                height=height,
                generator=generator,
                output_type="pil",
            )
        return list(output.frames[0])
