"""Video diffusion: AnimateDiff for SDXL around the style's own (fused) UNet.

`AnimateDiffSDXLPipeline.from_pipe` turns the loaded SDXL pipeline's UNet into a `UNetMotionModel`
(its weights are copied at that moment, so the motion UNet carries the style fused then), shares the
VAE and text encoders, and adds the motion adapter's temporal layers. The frames come back RGB; the
clip is cut out with one background key in `generator.animation.clip_cutout`.

A clip can start from the static sticker (image-to-video, like img2img): the static sticker's latents
are repeated over the frames, noised to the timestep the `strength` picks and denoised by the motion
UNet for the remaining steps (`ClipDiffuser.run(..., start=..., strength=...)`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from diffusers import AnimateDiffSDXLPipeline, MotionAdapter, StableDiffusionXLPipeline
from diffusers.utils import logging as diffusers_logging
from diffusers.utils.torch_utils import randn_tensor
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


def _copy_added_conditioning(unet2d: torch.nn.Module, motion_unet: torch.nn.Module) -> None:
    """`UNetMotionModel.from_unet2d` (diffusers 0.42) copies every block but not SDXL's `add_embedding`
    (the pooled-text and size conditioning): without this the motion UNet keeps random weights there and
    each process would draw a different clip for the same request."""
    source = getattr(unet2d, "add_embedding", None)
    target = getattr(motion_unet, "add_embedding", None)
    if source is not None and target is not None:
        target.load_state_dict(source.state_dict())


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
            _copy_added_conditioning(self.base.unet, pipe.unet)
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
        start: torch.Tensor | None = None,
        strength: float = 0.0,
    ) -> list[Image.Image]:
        """RGB frames of one clip; the same prompt and seed as the static sticker. With `start` (the
        static sticker's latents, `static_latents`) and 0 < `strength` < 1 the clip starts from the
        static sticker; otherwise (strength 0 or 1) from pure noise (text-to-video)."""
        if not MIN_FRAMES <= frames <= MAX_FRAMES:
            raise ValueError(f"frames must be {MIN_FRAMES}-{MAX_FRAMES}")
        check_strength(strength)
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        pipe = self.pipeline(style)
        dtype = pipe.unet.dtype  # bf16/fp16 UNet next to fp32 text encoders or VAE: autocast joins them
        with torch.autocast(pipe.device.type, dtype=dtype, enabled=dtype != torch.float32):
            if start is not None and 0.0 < strength < 1.0:
                return _from_start(pipe, start, prompt, generator, frames, steps, strength, width, height)
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

    @torch.inference_mode()
    def static_latents(
        self,
        prompt: str,
        seed: int,
        *,
        negative_prompt: str | None = None,
        steps: int = 1,
        width: int = 512,
        height: int = 512,
    ) -> torch.Tensor:
        """The static sticker's own latents (1, 4, h, w), before the VAE decodes them: the base pipeline
        (the style fused) with the static sticker's prompt, seed and per-image CPU generator. Cheaper on
        a CPU than VAE-encoding the finished image (one 1-frame UNet pass), and exact: no cut-out,
        outline or compression in between."""
        dtype = self.base.unet.dtype
        with torch.autocast(self.base.device.type, dtype=dtype, enabled=dtype != torch.float32):
            out = self.base(
                prompt=[prompt],
                negative_prompt=[negative_prompt] if negative_prompt else None,
                num_inference_steps=steps,
                guidance_scale=0.0,
                width=width,
                height=height,
                generator=[torch.Generator(device="cpu").manual_seed(int(seed))],
                output_type="latent",
            )
        return out.images


def check_strength(strength: float) -> None:
    if not 0.0 <= strength <= 1.0:  # also refuses NaN
        raise ValueError("strength must be from 0 to 1")


def start_schedule(scheduler: object, steps: int, strength: float) -> tuple[torch.Tensor, int]:
    """The timesteps left to run from `strength` and the index of the first, as diffusers' img2img
    picks them (SDXL-Turbo: `num_inference_steps * strength >= 1`): the schedule gets
    n = ceil(steps / strength) steps (trailing spacing), of which the last int(n * strength) run, so
    `steps` or more always do. SDXL-Turbo's EulerAncestral scheduler takes no custom timesteps, so a
    strength picks one of its n-step schedules: 1 step at 0.5-0.99 starts at t=499 of 1000."""
    n = max(steps, math.ceil(steps / strength))
    scheduler.set_timesteps(n)  # type: ignore[attr-defined]
    run = min(int(n * strength), n)
    begin = (n - run) * getattr(scheduler, "order", 1)
    return scheduler.timesteps[begin:], begin  # type: ignore[attr-defined]


def _from_start(
    pipe: AnimateDiffSDXLPipeline,
    start: torch.Tensor,
    prompt: str,
    generator: torch.Generator,
    frames: int,
    steps: int,
    strength: float,
    width: int,
    height: int,
) -> list[Image.Image]:
    """Image-to-video with the pipeline's own parts. `AnimateDiffSDXLPipeline.__call__` (diffusers
    0.42) can only start from pure noise: given `latents` it multiplies them by the scheduler's
    `init_noise_sigma` and runs every timestep (`denoising_end` cuts the end, not the start), and
    EulerAncestral takes no custom `timesteps`/`sigmas`. So this is its denoising loop, started part-way:
    guidance 0 (SDXL-Turbo), no classifier-free guidance, IP adapter or FreeInit."""
    device = pipe._execution_device
    embeds, _, pooled, _ = pipe.encode_prompt(
        prompt=prompt, device=device, num_videos_per_prompt=1, do_classifier_free_guidance=False
    )
    # a private scheduler: the static pipeline shares `pipe.scheduler` and sets its own timesteps
    scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
    timesteps, begin = start_schedule(scheduler, steps, strength)
    scheduler.set_begin_index(begin)
    # the static sticker on every frame, noised to the first remaining timestep (fresh noise per frame)
    x0 = start.to(device=device, dtype=embeds.dtype)
    x0 = x0[:, :, None].expand(-1, -1, frames, -1, -1).contiguous()
    noise = randn_tensor(x0.shape, generator=generator, device=device, dtype=x0.dtype)
    latents = scheduler.add_noise(x0, noise, timesteps[:1])
    projection = pipe.text_encoder_2.config.projection_dim if pipe.text_encoder_2 is not None else None
    time_ids = pipe._get_add_time_ids(
        (height, width), (0, 0), (height, width), dtype=embeds.dtype, text_encoder_projection_dim=projection
    ).to(device)
    embeds = embeds.repeat_interleave(repeats=frames, dim=0)
    step_kwargs = pipe.prepare_extra_step_kwargs(generator, 0.0)
    for t in timesteps:
        noise_pred = pipe.unet(
            scheduler.scale_model_input(latents, t),
            t,
            encoder_hidden_states=embeds,
            added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids},
            return_dict=False,
        )[0]
        latents = scheduler.step(noise_pred, t, latents, **step_kwargs, return_dict=False)[0]
    vae = pipe.vae
    upcast = vae.dtype == torch.float16 and bool(getattr(vae.config, "force_upcast", False))
    if upcast:  # as the pipeline does: the SDXL VAE overflows in fp16
        pipe.upcast_vae()
        latents = latents.to(torch.float32)
    try:
        video = pipe.decode_latents(latents.to(vae.dtype))
    finally:
        if upcast:
            vae.to(dtype=torch.float16)
    return list(pipe.video_processor.postprocess_video(video=video, output_type="pil")[0])
