"""`StickerPipeline`: the SDXL pipeline plus fused LoRA styles, behind a small synchronous API.

The async engine (`generator.engine`) owns one instance and calls it from its single worker
thread only; diffusers pipelines and schedulers are not thread-safe and nothing here locks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import torch
from diffusers import StableDiffusionXLPipeline
from PIL import Image

from generator.api import GenerationFailed, StyleError
from generator.lora import (
    Downloader,
    LoraFuser,
    StyleWeights,
    download_hub_lora,
    extract_style_weights,
    style_lora_inputs,
)
from generator.model import DeviceChoice, apply_speedups, load_pipeline
from generator.options import ModelConfig
from generator.styles import StyleRegistry, StyleSpec

log = logging.getLogger(__name__)

DEFAULT_HOT_STYLES = 2


class StickerPipeline:
    """Generates images for one style at a time; switching styles swaps fused LoRA weights."""

    def __init__(
        self,
        pipe: StableDiffusionXLPipeline,
        choice: DeviceChoice,
        styles: StyleRegistry,
        *,
        hot_styles: int = DEFAULT_HOT_STYLES,
        downloader: Downloader = download_hub_lora,
    ) -> None:
        self.pipe = pipe
        self.choice = choice
        self.styles = styles
        self.speedups: list[str] = []
        self.warmup_batch_sizes: tuple[int, ...] = (1, 2, 4)
        self.unavailable: dict[str, StyleError] = {}
        self.load_ms: dict[str, float] = {}
        self._weights: dict[str, StyleWeights] = {}
        self._downloader = downloader
        self._fuser = LoraFuser(pipe, hot_styles=hot_styles)
        self._active: str | None = None

    # ----------------------------------------------------------------------- construction
    @classmethod
    def load(
        cls,
        model_cfg: ModelConfig,
        styles: StyleRegistry,
        *,
        hot_styles: int = DEFAULT_HOT_STYLES,
        downloader: Downloader = download_hub_lora,
    ) -> StickerPipeline:
        """Load the model named by `model_cfg`, read every style's LoRAs, then apply the speed switches.

        LoRAs are read before compiling and fusing QKV because peft wraps layers while reading them.
        A style whose LoRA is broken or cannot be fetched is only marked unavailable.
        """
        loaded = load_pipeline(model_cfg, speedups=False)
        sticker_pipe = cls.from_pipeline(
            loaded.pipe, styles, model_cfg, loaded.choice, hot_styles=hot_styles, downloader=downloader
        )
        sticker_pipe.speedups = loaded.speedups + sticker_pipe.speedups  # e.g. "tiny_vae" from loading
        return sticker_pipe

    @classmethod
    def from_pipeline(
        cls,
        pipe: StableDiffusionXLPipeline,
        styles: StyleRegistry,
        model_cfg: ModelConfig | None = None,
        choice: DeviceChoice | None = None,
        *,
        hot_styles: int = DEFAULT_HOT_STYLES,
        downloader: Downloader = download_hub_lora,
    ) -> StickerPipeline:
        """Wrap an already built pipeline (the tiny or full-size one) on its current device."""
        model_cfg = model_cfg or ModelConfig()
        if choice is None:
            choice = DeviceChoice(pipe.device, pipe.unet.dtype, "given pipeline")
        pipe.set_progress_bar_config(disable=True)
        sticker_pipe = cls(pipe, choice, styles, hot_styles=hot_styles, downloader=downloader)
        sticker_pipe.prepare_styles()
        sticker_pipe.speedups = apply_speedups(pipe, model_cfg, choice)
        return sticker_pipe

    def prepare_styles(self) -> None:
        """Read every style's LoRAs into fusable weights; broken ones go to `unavailable`."""
        for spec in self.styles:
            if not spec.loras:
                continue
            start = time.perf_counter()
            try:
                self._weights[spec.name] = self._extract(spec)
            except StyleError as exc:
                # Users get a short sentence; the reason (and how to fix it) goes to the log.
                reason = exc.user_message if exc.detail is None else f"{exc.user_message} ({exc.detail})"
                self.unavailable[spec.name] = StyleError(
                    f"The style '{spec.name}' is unavailable right now.", detail=reason
                )
                log.warning("style %s is unavailable: %s", spec.name, reason)
                continue
            self.load_ms[spec.name] = (time.perf_counter() - start) * 1000.0

    def _extract(self, spec: StyleSpec) -> StyleWeights:
        inputs = style_lora_inputs(spec, downloader=self._downloader)
        return self._fuser.prepare(extract_style_weights(self.pipe, spec.name, inputs))

    # ----------------------------------------------------------------------- properties
    @property
    def device(self) -> torch.device:
        return self.choice.device

    @property
    def dtype(self) -> torch.dtype:
        return self.choice.dtype

    @property
    def active_style(self) -> str | None:
        return self._active

    def available_styles(self) -> list[str]:
        return [name for name in self.styles.names() if name not in self.unavailable]

    # ----------------------------------------------------------------------- work
    def activate_style(self, name: str) -> float:
        """Make `name`'s fused weights current; returns milliseconds spent (0 when already active)."""
        spec = self.styles.get(name)  # UnknownStyle for names not in the registry
        if name in self.unavailable:
            raise self.unavailable[name]
        if name == self._active:
            return 0.0
        weights = self._weights.get(spec.name)
        try:
            elapsed = self._fuser.activate(weights)
        except Exception:
            self._active = None
            self._fuser.reset()
            raise
        self._active = name
        return elapsed

    def run(
        self,
        prompts: list[str],
        negative_prompts: list[str],
        seeds: list[int],
        steps: int,
        width: int,
        height: int,
    ) -> list[Image.Image]:
        """One batched pipeline call with one CPU generator per image (same seed → same image,
        batched or not, on any device). Guidance is 0.0 (SDXL-Turbo), so negative prompts are
        passed along but have no effect at these settings."""
        if not prompts or not len(prompts) == len(seeds) == len(negative_prompts):
            raise GenerationFailed(
                "Internal error: a batch needs one prompt, negative prompt and seed per image.",
                detail=f"{len(prompts)} prompts, {len(negative_prompts)} negatives, {len(seeds)} seeds",
            )
        generators = [torch.Generator(device="cpu").manual_seed(int(seed)) for seed in seeds]
        result = self.pipe(
            prompt=list(prompts),
            negative_prompt=list(negative_prompts) if any(negative_prompts) else None,
            num_inference_steps=steps,
            guidance_scale=0.0,
            width=width,
            height=height,
            generator=generators,
            output_type="pil",
        )
        return list(result.images)

    def warmup(self, batch_sizes: Sequence[int] | None = None, size: tuple[int, int] = (512, 512)) -> float:
        """Run the pipeline once per batch size (compiles kernels, fills caches); returns ms spent.

        By default batch 1 only, plus `warmup_batch_sizes` when the UNet is compiled (a compiled UNet
        recompiles once for a new batch size; that should happen here, not for the first user)."""
        if batch_sizes is None:
            compiled = any(name.startswith("compile") for name in self.speedups)
            batch_sizes = self.warmup_batch_sizes if compiled else (1,)
        start = time.perf_counter()
        for batch in batch_sizes:
            self.run(["warm-up"] * batch, [""] * batch, list(range(batch)), 1, size[0], size[1])
        return (time.perf_counter() - start) * 1000.0


def load_sticker_pipeline(
    model_cfg: ModelConfig, styles_dir: str, *, hot_styles: int = DEFAULT_HOT_STYLES
) -> StickerPipeline:
    """Convenience for commands and benchmarks: styles from a directory plus the configured model."""
    return StickerPipeline.load(model_cfg, StyleRegistry.load(styles_dir), hot_styles=hot_styles)


__all__ = ["DEFAULT_HOT_STYLES", "StickerPipeline", "load_sticker_pipeline"]
