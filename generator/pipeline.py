"""`StickerPipeline`: the SDXL pipeline plus fused LoRA styles, behind a small synchronous API.

The async engine (`generator.engine`) owns one instance and calls it from its single worker
thread only; diffusers pipelines and schedulers are not thread-safe and nothing here locks.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
from diffusers import StableDiffusionXLPipeline
from PIL import Image

from generator.api import GenerationFailed, StyleError
from generator.attention_prior import AttentionRecorder, subject_phrases, token_weights
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
from generator.packing import repack_stale
from generator.postprocess.pipeline import SUBJECT_PRIOR
from generator.styles import StyleRegistry, StyleSpec
from generator.subject_lora import subject_style_weights
from generator.subject_styles import base_style_name

log = logging.getLogger(__name__)

DEFAULT_HOT_STYLES = 2
DEFAULT_SUBJECT_STYLES = 4  # "style+subject" weights kept ready (least recently used go)
DEFAULT_PROMPT_CACHE = 256


class PromptEmbeddingCache:
    """Least-recently-used SDXL prompt embeddings (per-token states + pooled), one entry per prompt.

    Rerolls and "more like this" repeat a prompt with new seeds; encoding it again through both CLIP
    encoders costs about a tenth of a full-size CPU sticker. An entry is keyed by the prompt and by
    the text-encoder weights it was made with: a style whose LoRAs touch a text encoder has its own
    entries, styles that only change the UNet share the base ones, and `clear` drops everything when
    styles are re-read.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = max(0, capacity)
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[str, str]) -> tuple[torch.Tensor, torch.Tensor] | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple[str, str], embeds: torch.Tensor, pooled: torch.Tensor) -> None:
        if self.capacity == 0:
            return
        self._entries[key] = (embeds, pooled)
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


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
        prompt_cache: int = DEFAULT_PROMPT_CACHE,
    ) -> None:
        self.pipe = pipe
        self.choice = choice
        self.styles = styles
        self.speedups: list[str] = []
        self.warmup_batch_sizes: tuple[int, ...] = (1, 2, 4)
        self.unavailable: dict[str, StyleError] = {}
        self._weights: dict[str, StyleWeights] = {}
        self._downloader = downloader
        self._fuser = LoraFuser(pipe, hot_styles=hot_styles)
        self._active: str | None = None
        self._subjects: OrderedDict[str, StyleWeights] = OrderedDict()  # "style+subject", LRU
        self.max_subject_styles = DEFAULT_SUBJECT_STYLES
        self.prompt_cache = PromptEmbeddingCache(prompt_cache)
        self.attention: AttentionRecorder | None = None
        self.last_prior_ms = 0.0  # time the subject prior took inside the last `run`

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
        sticker_pipe = cls(
            pipe,
            choice,
            styles,
            hot_styles=hot_styles,
            downloader=downloader,
            prompt_cache=model_cfg.prompt_cache,
        )
        sticker_pipe.prepare_styles()
        sticker_pipe.speedups = apply_speedups(pipe, model_cfg, choice)
        if model_cfg.subject_prior:
            sticker_pipe.enable_subject_prior()
        return sticker_pipe

    def enable_subject_prior(self) -> bool:
        """Record the subject's cross-attention during generation as a cut-out prior (see
        `generator.attention_prior`). Not on a compiled UNet: the recording processor is Python."""
        if any(name.startswith("compile") for name in self.speedups):
            log.info("subject prior is off: the UNet is compiled")
            return False
        self.attention = AttentionRecorder(self.pipe.unet)
        self.attention.install()
        return True

    def prepare_styles(self) -> None:
        """Read every style's LoRAs into fusable weights; broken ones go to `unavailable`."""
        self.prompt_cache.clear()  # cached embeddings may come from text-encoder weights read before
        for spec in self.styles:
            if not spec.loras:
                continue
            try:
                self._weights[spec.name] = self._extract(spec)
            except StyleError as exc:
                # Users get a short sentence; the reason (and how to fix it) goes to the log.
                reason = exc.user_message if exc.detail is None else f"{exc.user_message} ({exc.detail})"
                self.unavailable[spec.name] = StyleError(
                    f"The style '{spec.name}' is unavailable right now.", detail=reason
                )
                log.warning("style %s is unavailable: %s", spec.name, reason)

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
    def add_subject_style(self, name: str, style: str, lora_path: str) -> None:
        """Make the dynamic style `name` (= `style` with a taught subject's LoRA) ready to activate.

        At most `max_subject_styles` are kept (least recently used go first, with their hot copies)."""
        if name in self._subjects:
            self._subjects.move_to_end(name)
            return
        spec = self.styles.get(style)
        if style in self.unavailable:
            raise self.unavailable[style]
        weights = subject_style_weights(name, self._weights.get(spec.name), lora_path, self._fuser.modules)
        self._subjects[name] = self._fuser.prepare(weights)
        while len(self._subjects) > self.max_subject_styles:
            old, _ = self._subjects.popitem(last=False)
            self._fuser.forget(old)

    def activate_style(self, name: str) -> float:
        """Make `name`'s fused weights current; returns milliseconds spent (0 when already active)."""
        if name in self._subjects:
            weights: StyleWeights | None = self._subjects[name]
            self._subjects.move_to_end(name)
        else:
            spec = self.styles.get(name)  # UnknownStyle for names not in the registry
            if name in self.unavailable:
                raise self.unavailable[name]
            weights = self._weights.get(spec.name)
        if name == self._active:
            return 0.0
        try:
            elapsed = self._fuser.activate(weights)
            if self.device.type == "cpu":  # repack the int8/oneDNN layers the switch rewrote
                start = time.perf_counter()
                repack_stale(self.pipe.unet, self.pipe.text_encoder, self.pipe.text_encoder_2)
                elapsed += (time.perf_counter() - start) * 1000.0
        except Exception:
            self._active = None
            self._fuser.reset()
            raise
        self._active = name
        return elapsed

    def forget_style(self, name: str) -> None:
        """Drop `name`'s hot fused copy (its LoRA weights stay read; activating it fuses again)."""
        self._fuser.forget(name)

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
        prompt_args: dict[str, object] = {"prompt": list(prompts)}
        if self.prompt_cache.capacity:
            embeds, pooled = self._encode_prompts(list(prompts))
            prompt_args = {"prompt_embeds": embeds, "pooled_prompt_embeds": pooled}
        recording = self._begin_prior(prompts, width, height)
        try:
            result = self.pipe(
                **prompt_args,
                negative_prompt=list(negative_prompts) if any(negative_prompts) else None,
                num_inference_steps=steps,
                guidance_scale=0.0,
                width=width,
                height=height,
                generator=generators,
                output_type="pil",
            )
        finally:
            priors = self._end_prior(recording)
        images = list(result.images)
        for image, prior in zip(images, priors, strict=False):
            if prior is not None:
                image.info[SUBJECT_PRIOR] = prior
        return images

    def _begin_prior(self, prompts: list[str], width: int, height: int) -> bool:
        """Mark the active style's subject and trigger tokens for the attention recorder."""
        if self.attention is None or self._active is None:
            return False
        spec = self.styles.get(base_style_name(self._active))  # a taught subject draws in its style
        phrases = [subject_phrases(prompt, spec.template, spec.trigger) for prompt in prompts]
        if not any(phrases):
            return False
        started = time.perf_counter()
        self.attention.begin(token_weights(self.pipe.tokenizer, prompts, phrases), (height // 8, width // 8))
        self.last_prior_ms = (time.perf_counter() - started) * 1000.0
        return True

    def _end_prior(self, recording: bool) -> list[np.ndarray | None]:
        if not recording or self.attention is None:
            return []
        started = time.perf_counter()
        priors = self.attention.end()
        self.last_prior_ms += (time.perf_counter() - started + self.attention.seconds) * 1000.0
        return priors

    def _text_weights_key(self) -> str:
        """Which text-encoder weights are current: the active style's when its LoRAs touch a text
        encoder, otherwise the base ones (shared by every UNet-only style)."""
        weights = self._weights.get(self._active) if self._active is not None else None
        if weights is not None and any(component != "unet" for component, _ in weights.layers):
            return self._active or ""
        return ""

    @torch.inference_mode()
    def _encode_prompts(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompt embeddings for a batch, encoding only the prompts not in the cache (in one call).

        Guidance is 0.0 (SDXL-Turbo), so only the positive embeddings are needed."""
        text_key = self._text_weights_key()
        found: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        missing: list[str] = []
        for prompt in prompts:
            if prompt in found or prompt in missing:
                continue
            entry = self.prompt_cache.get((text_key, prompt))
            if entry is None:
                missing.append(prompt)
            else:
                found[prompt] = entry
        if missing:
            embeds, _, pooled, _ = self.pipe.encode_prompt(
                prompt=missing, device=self.device, num_images_per_prompt=1, do_classifier_free_guidance=False
            )
            for index, prompt in enumerate(missing):
                entry = (embeds[index : index + 1].clone(), pooled[index : index + 1].clone())
                self.prompt_cache.put((text_key, prompt), *entry)
                found[prompt] = entry
        return (
            torch.cat([found[prompt][0] for prompt in prompts]),
            torch.cat([found[prompt][1] for prompt in prompts]),
        )

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


__all__ = [
    "DEFAULT_HOT_STYLES",
    "DEFAULT_PROMPT_CACHE",
    "PromptEmbeddingCache",
    "StickerPipeline",
]
