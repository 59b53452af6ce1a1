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
PENDING_LAYERS = 12  # layers' scores held before they are reduced (bounds the memory they take)
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


def _key_projection(attn: Any) -> torch.nn.Module:
    """The layer computing the keys: the fused key+value projection (`fuse_qkv`) or `to_k`."""
    if getattr(attn, "fused_projections", False) and getattr(attn, "to_kv", None) is not None:
        return attn.to_kv
    return attn.to_k


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
        recorder = self.recorder
        if recorder.weights is None or encoder_hidden_states is None or hidden_states.ndim != 3:
            return self.inner(attn, hidden_states, encoder_hidden_states, *args, **kwargs)
        # keep the query and key the layer computes anyway: recomputing them was most of the prior's cost
        kept: dict[str, list[torch.Tensor]] = {"query": [], "key": []}
        hooks = [
            module.register_forward_hook(lambda _m, _i, output, bucket=bucket: bucket.append(output))
            for module, bucket in ((attn.to_q, kept["query"]), (_key_projection(attn), kept["key"]))
        ]
        try:
            out = self.inner(attn, hidden_states, encoder_hidden_states, *args, **kwargs)
        finally:
            for hook in hooks:
                hook.remove()
        started = time.perf_counter()
        query, key = (values[0] if len(values) == 1 else None for values in kept.values())
        recorder.record(attn, hidden_states, encoder_hidden_states, query=query, key=key)
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
        # raw scores waiting to be turned into maps, grouped by (size, heads, scale): a handful of
        # batched operations instead of several small ones per layer, which cost more than the maths
        self.pending: dict[tuple[tuple[int, int], int, float], list[torch.Tensor]] = {}
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
        self.maps, self.counts, self.pending, self.seconds = {}, {}, {}, 0.0

    @torch.no_grad()
    def record(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        context: torch.Tensor,
        query: torch.Tensor | None = None,
        key: torch.Tensor | None = None,
    ) -> None:
        """Add this layer's attention to the chosen tokens. `query` and `key` are the outputs of the
        layer's own query and key projections when the processor kept them (else computed here)."""
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
        if query is None or query.shape[:2] != hidden_states.shape[:2]:
            query = attn.to_q(hidden_states)
        projection = _key_projection(attn)
        if key is None or key.shape[:2] != context.shape[:2]:
            key = projection(context)
        if projection is not attn.to_k:
            key = key.chunk(2, dim=-1)[0]  # the fused projection's output is keys then values
        heads = attn.heads
        head_dim = query.shape[-1] // heads
        query = query.view(batch, positions, heads, head_dim).transpose(1, 2)
        key = key.view(batch, -1, heads, head_dim).transpose(1, 2)
        size = (lh // scale, lw // scale)
        group = self.pending.setdefault((size, heads, float(attn.scale)), [])
        group.append(query @ key.transpose(-1, -2))  # (batch, heads, positions, tokens)
        if len(group) >= PENDING_LAYERS:
            self._flush()

    def _flush(self) -> None:
        """Turn the pending scores into summed per-layer maps (head-averaged attention on chosen tokens)."""
        assert self.weights is not None
        for (size, _heads, scale), scores in self.pending.items():
            stacked = torch.stack(scores, dim=1)  # (batch, layers, heads, positions, tokens)
            probs = torch.softmax(stacked.float().mul_(scale), dim=-1)
            weights = self.weights.to(probs.device, probs.dtype)[:, None, None, : probs.shape[-1], None]
            mass = (probs @ weights).squeeze(-1).mean(dim=2).sum(dim=1)  # (batch, positions)
            mass = mass.reshape(mass.shape[0], *size).cpu()
            self.maps[size] = self.maps.get(size, 0) + mass
            self.counts[size] = self.counts.get(size, 0) + len(scores)
        self.pending = {}

    def end(self) -> list[np.ndarray | None]:
        """One mask per image (float32 in [0, 1] at the finest captured resolution), None without maps."""
        if self.weights is not None and self.pending:
            self._flush()
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
