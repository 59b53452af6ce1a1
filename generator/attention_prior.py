"""The generator's subject prior: cross-attention of the subject's (and trigger's) tokens.

While the UNet draws, every cross-attention layer decides how much each image position listens to
each prompt token; the positions that listen to "otter" are where the otter is drawn. A wrapping
attention processor records that, for the chosen tokens only, during the normal forward pass; the
maps of the low-resolution layers are averaged into a coarse mask in [0, 1] that the cut-out uses as
a prior (`generator.postprocess.pipeline.SUBJECT_PRIOR`) where colour alone cannot decide.

The wrapped processor still produces the layer's output; the extra work is one query projection and
a (positions x 77) score matrix per captured layer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

TEMPLATE_FIELD_RE = re.compile(r"\{([^{}]*)\}")
MAX_CAPTURE_POSITIONS = 32 * 32  # layers with more positions (the 64x64 level) are not captured


def subject_phrases(prompt: str, template: str, trigger: str) -> list[str]:
    """The subject (and trigger) text of a prompt made from `template`; [] if it does not fit."""
    pattern = ""
    for index, part in enumerate(TEMPLATE_FIELD_RE.split(template)):
        if index % 2 == 0:
            pattern += r"\s*".join(re.escape(piece.strip()) for piece in part.split(" "))
        else:
            pattern += f"(?P<{part}>.+?)" if part in ("expression", "subject") else f"(?P<{part}>.*?)"
    match = re.fullmatch(pattern.replace(r"\,", r"\s*,\s*"), prompt.strip())
    if match is None:
        return []
    found = match.groupdict()
    phrases = [found.get("subject") or ""]
    if trigger:
        phrases.append(trigger)
    return [phrase.strip() for phrase in phrases if phrase and phrase.strip()]


def token_weights(tokenizer: Any, prompts: Sequence[str], phrases: Sequence[Sequence[str]]) -> torch.Tensor:
    """(batch, 77) 0/1 weights marking the token positions of each prompt's phrases."""
    length = int(getattr(tokenizer, "model_max_length", 77))
    weights = torch.zeros((len(prompts), length))
    for row, (prompt, wanted) in enumerate(zip(prompts, phrases, strict=True)):
        ids = tokenizer(prompt, padding="max_length", max_length=length, truncation=True).input_ids
        for phrase in wanted:
            piece = tokenizer(phrase, add_special_tokens=False).input_ids
            n = len(piece)
            if n == 0:
                continue
            for start in range(1, len(ids) - n + 1):
                if ids[start : start + n] == piece:
                    weights[row, start : start + n] = 1.0
    return weights


class _CaptureProcessor:
    """Wraps one cross-attention layer's processor and records the chosen tokens' attention."""

    def __init__(self, inner: Any, recorder: AttentionRecorder) -> None:
        self.inner = inner
        self.recorder = recorder

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        out = self.inner(attn, hidden_states, encoder_hidden_states, *args, **kwargs)
        recorder = self.recorder
        if recorder.weights is not None and encoder_hidden_states is not None and hidden_states.ndim == 3:
            started = time.perf_counter()
            recorder.record(attn, hidden_states, encoder_hidden_states)
            recorder.seconds += time.perf_counter() - started
        return out


class AttentionRecorder:
    """Installs capturing processors on a UNet's cross-attention layers and builds subject masks."""

    def __init__(self, unet: Any) -> None:
        self.unet = unet
        self.weights: torch.Tensor | None = None  # (batch, 77) while capturing
        self.latent_hw: tuple[int, int] = (64, 64)
        self.maps: dict[tuple[int, int], torch.Tensor] = {}
        self.counts: dict[tuple[int, int], int] = {}
        self.seconds = 0.0
        self.installed = False

    def install(self) -> None:
        if self.installed:
            return
        processors = dict(self.unet.attn_processors)
        for name, processor in processors.items():
            if name.endswith("attn2.processor") and not isinstance(processor, _CaptureProcessor):
                processors[name] = _CaptureProcessor(processor, self)
        self.unet.set_attn_processor(processors)
        self.installed = True

    def uninstall(self) -> None:
        if not self.installed:
            return
        processors = {
            name: processor.inner if isinstance(processor, _CaptureProcessor) else processor
            for name, processor in self.unet.attn_processors.items()
        }
        self.unet.set_attn_processor(processors)
        self.installed = False

    def begin(self, weights: torch.Tensor, latent_hw: tuple[int, int]) -> None:
        self.weights = weights
        self.latent_hw = latent_hw
        self.maps, self.counts, self.seconds = {}, {}, 0.0

    @torch.no_grad()
    def record(self, attn: Any, hidden_states: torch.Tensor, context: torch.Tensor) -> None:
        assert self.weights is not None
        batch, positions, _ = hidden_states.shape
        if positions > MAX_CAPTURE_POSITIONS or batch != self.weights.shape[0]:
            return
        lh, lw = self.latent_hw
        scale = round((lh * lw / positions) ** 0.5)
        if scale < 1 or (lh // scale) * (lw // scale) != positions:
            return
        if attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        query = attn.to_q(hidden_states)
        if getattr(attn, "fused_projections", False) and hasattr(attn, "to_kv"):
            key = attn.to_kv(context).chunk(2, dim=-1)[0]
        else:
            key = attn.to_k(context)
        heads = attn.heads
        head_dim = query.shape[-1] // heads
        query = query.view(batch, positions, heads, head_dim).transpose(1, 2)
        key = key.view(batch, -1, heads, head_dim).transpose(1, 2)
        probs = torch.softmax((query @ key.transpose(-1, -2)).float() * attn.scale, dim=-1)
        weights = self.weights.to(probs.device)[:, None, None, : probs.shape[-1]]
        mass = (probs * weights).sum(dim=-1).mean(dim=1)  # (batch, positions)
        size = (lh // scale, lw // scale)
        mass = mass.reshape(batch, *size).cpu()
        self.maps[size] = self.maps.get(size, 0) + mass
        self.counts[size] = self.counts.get(size, 0) + 1

    def end(self) -> list[np.ndarray | None]:
        """One mask per image (float32 in [0, 1] at the finest captured resolution), None without maps."""
        weights, self.weights = self.weights, None
        if weights is None or not self.maps:
            return [None] * (0 if weights is None else weights.shape[0])
        target = max(self.maps, key=lambda hw: hw[0] * hw[1])
        total = torch.zeros((weights.shape[0], *target))
        for size, summed in self.maps.items():
            mean = summed / self.counts[size]
            if size != target:
                mean = F.interpolate(mean[:, None], size=target, mode="bilinear", align_corners=False)[:, 0]
            total += mean
        masks: list[np.ndarray | None] = []
        for row in range(total.shape[0]):
            if float(weights[row].sum()) == 0:
                masks.append(None)
                continue
            values = total[row]
            low, high = float(values.min()), float(values.max())
            spread = max(high - low, 1e-8)
            masks.append(((values - low) / spread).numpy().astype(np.float32))
        return masks
