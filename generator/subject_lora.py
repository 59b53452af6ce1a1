"""Fusable weights of "style+subject": a style's LoRA factors with a taught subject's LoRA added.

The subject LoRA (written by the teach trainer, any format diffusers reads) is converted to
per-layer factors without touching the pipeline's modules (no peft adapter is attached, so a
compiled or QKV-fused UNet stays valid), then stacked onto the style's factors along the rank, as
`styles fuse` does offline. The result is an ordinary `StyleWeights` for `LoraFuser`.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from generator.api import StyleError
from generator.lora import LayerDelta, StyleWeights, read_lora_file
from generator.training.errors import StudioError
from generator.training.lora_io import canonical


def subject_style_weights(
    name: str,
    base: StyleWeights | None,
    lora_path: str | Path,
    modules: dict[str, dict[str, nn.Module]],
    *,
    scale: float = 1.0,
) -> StyleWeights:
    """`base` (None: a style without LoRAs) plus the subject LoRA at `lora_path`, unfinalised."""
    path = Path(lora_path)
    try:
        pairs = canonical(read_lora_file(path), label=path.name)
    except (StudioError, StyleError) as exc:  # not safetensors, truncated, NaN, unknown layout
        raise StyleError(
            "That taught subject cannot be drawn (its LoRA is unreadable).", detail=str(exc)
        ) from exc
    layers: dict[tuple[str, str], LayerDelta] = {}
    rank = base.rank if base is not None else 0
    for key, delta in (base.layers if base is not None else {}).items():
        copy = LayerDelta(dense=delta.dense)
        if delta.up is not None and delta.down is not None:
            copy.ups.append(delta.up.float())
            copy.downs.append(delta.down.float())
        layers[key] = copy
    for (component, module), pair in pairs.items():
        found = modules.get(component, {}).get(module)
        weight = getattr(found, "weight", None)
        if weight is None or tuple(weight.shape[:2]) != (pair.up.shape[0], pair.down.shape[1]):
            raise StyleError(
                "That taught subject does not fit this model (taught on another one?).",
                detail=f"{path.name}: {component}.{module}",
            )
        delta = layers.setdefault((component, module), LayerDelta())
        delta.ups.append((pair.up * (pair.scale * scale)).contiguous())
        delta.downs.append(pair.down.contiguous())
        rank = max(rank, pair.rank)
    return StyleWeights(style=name, layers=layers, rank=rank)
