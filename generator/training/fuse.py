"""`styles fuse`: a new style from other styles' LoRAs with weights (optionally baked into one file).

Without `bake`, the new style lists every component LoRA with scale `weight x its scale`, and the
engine fuses them into the UNet like any multi-LoRA style. With `bake`, the LoRAs are merged into
one exact LoRA file: for each module the factors are stacked along the rank,
`A = [A1; A2]`, `B = [w1 s1 B1, w2 s2 B2]`, so `B @ A = w1 s1 B1 A1 + w2 s2 B2 A2` — the same
weights as loading both with those scales, and one file that loads anywhere.

Before anything is written, every LoRA is checked against the base model's UNet (module names
and shapes, from its config alone, no weights loaded) and against the other LoRAs; the message
names the LoRA and the style that does not fit.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from generator.styles import MAX_LORA_SCALE, LoraRef, StyleRegistry, StyleSpec
from generator.training.errors import LoraMismatch, StudioError
from generator.training.export import (
    LORA_DIR,
    LoraFormat,
    StyleDraft,
    check_free,
    draft_from_spec,
    save_lora_file,
    write_style,
)
from generator.training.lora_io import CanonicalLora, LoraPair, read_lora, to_diffusers
from generator.training.paths import prepare_dir, validate_name

log = logging.getLogger(__name__)

WEIGHTED_RE = re.compile(r"^(?P<name>[^:]+)(?::(?P<weight>[-+]?(?:\d+\.?\d*|\.\d+)))?$")
Shapes = dict[str, tuple[int, int]]


@dataclass(frozen=True)
class Component:
    style: str
    ref: LoraRef
    factor: float  # style weight x the LoRA's scale in that style
    pairs: CanonicalLora

    @property
    def label(self) -> str:
        name = self.ref.local_path.name if self.ref.local_path else self.ref.label
        return f"{name} (style '{self.style}')"


def parse_weighted(items: Sequence[str]) -> list[tuple[str, float]]:
    """`["otter:0.7", "rabbit"]` -> `[("otter", 0.7), ("rabbit", 1.0)]`."""
    if len(items) < 2:
        raise StudioError("Fuse needs at least two styles, e.g. `otter:0.7 rabbit:0.5`.")
    parsed = []
    for item in items:
        match = WEIGHTED_RE.match(item.strip())
        if match is None:
            raise StudioError(f"Cannot read {item!r}: write STYLE or STYLE:WEIGHT, e.g. otter:0.7.")
        weight = float(match["weight"]) if match["weight"] is not None else 1.0
        if not abs(weight) <= MAX_LORA_SCALE:
            raise StudioError(
                f"Weight {weight:g} of {match['name']} is outside -{MAX_LORA_SCALE:g}..{MAX_LORA_SCALE:g}."
            )
        parsed.append((validate_name(match["name"], "style"), weight))
    names = [name for name, _ in parsed]
    if len(set(names)) != len(names):
        raise StudioError("Each style may appear only once in a fusion.")
    return parsed


def unet_linear_shapes(
    model_path: str | Path, *, local_files_only: bool = True
) -> tuple[Shapes, dict] | None:
    """(module -> (in, out) of every Linear, config) of the model's UNet, built on the meta device."""
    from accelerate import init_empty_weights
    from diffusers import UNet2DConditionModel

    try:
        config = UNet2DConditionModel.load_config(
            str(model_path), subfolder="unet", local_files_only=local_files_only
        )
    except (OSError, ValueError) as exc:
        log.warning(
            "cannot read the UNet config of %s (%s); checking LoRAs against each other only", model_path, exc
        )
        return None
    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(config)
    shapes = {
        name: (module.in_features, module.out_features)
        for name, module in unet.named_modules()
        if isinstance(module, torch.nn.Linear)
    }
    return shapes, dict(config)


def check_fits_model(component: Component, shapes: Shapes, model: str) -> None:
    for (part, module), pair in component.pairs.items():
        if part != "unet":
            continue
        if module not in shapes:
            raise LoraMismatch(
                f"LoRA {component.label} does not fit base model {model}: it targets '{module}', "
                "which that UNet does not have (it was made for a different base model)."
            )
        expected = shapes[module]
        got = (int(pair.down.shape[1]), int(pair.up.shape[0]))
        if got != expected:
            raise LoraMismatch(
                f"LoRA {component.label} does not fit base model {model}: '{module}' is "
                f"{expected[0]}->{expected[1]} there but {got[0]}->{got[1]} in the LoRA "
                "(a different base model)."
            )


def check_consistent(components: Sequence[Component]) -> None:
    """All LoRAs agree on the shape of every module they share (else one is for another model)."""
    seen: dict[tuple[str, str], tuple[tuple[int, int], Component]] = {}
    for component in components:
        for target, pair in component.pairs.items():
            dims = (int(pair.down.shape[1]), int(pair.up.shape[0]))
            if target in seen and seen[target][0] != dims:
                first = seen[target][1]
                raise LoraMismatch(
                    f"LoRA {component.label} was made for a different base model than {first.label}: "
                    f"'{target[1]}' is {dims[0]}->{dims[1]} in one and {seen[target][0][0]}->"
                    f"{seen[target][0][1]} in the other."
                )
            seen.setdefault(target, (dims, component))


def merge(components: Sequence[Component]) -> CanonicalLora:
    """One exact LoRA equal to the weighted sum of `components` (ranks stacked per module)."""
    grouped: dict[tuple[str, str], list[tuple[LoraPair, float]]] = {}
    for component in components:
        for target, pair in component.pairs.items():
            grouped.setdefault(target, []).append((pair, component.factor * pair.scale))
    merged: CanonicalLora = {}
    for target, items in grouped.items():
        down = torch.cat([pair.down for pair, _ in items], dim=0)
        up = torch.cat([pair.up * factor for pair, factor in items], dim=1)
        merged[target] = LoraPair(down, up, 1.0)
    return merged


def _spec(registry: StyleRegistry, name: str) -> StyleSpec:
    for suffix in (".yaml", ".yml"):
        problem = registry.errors.get(f"{name}{suffix}")
        if problem and name not in registry:
            raise StudioError(problem)
    return registry.get(name)


def _source_entry(ref: LoraRef, scale: float, styles_dir: Path) -> dict[str, object]:
    if ref.local_path is None:
        entry: dict[str, object] = {"source": ref.source, "weight_name": ref.weight_name}
        if ref.revision:
            entry["revision"] = ref.revision
    else:
        try:
            source = ref.local_path.relative_to(styles_dir.resolve()).as_posix()
        except ValueError:
            source = str(ref.local_path)
        entry = {"source": source}
    if not abs(scale) <= MAX_LORA_SCALE:
        raise StudioError(f"The combined scale {scale:g} of {ref.label} is outside ±{MAX_LORA_SCALE:g}.")
    entry["scale"] = round(scale, 6)
    return entry


def fuse_styles(
    registry: StyleRegistry,
    weighted: Sequence[tuple[str, float]],
    *,
    name: str,
    styles_dir: str | Path,
    model_path: str | Path | None = None,
    subject: str | None = None,
    bake: bool = False,
    overwrite: bool = False,
    lora_format: LoraFormat = "diffusers",
) -> StyleSpec:
    """Validate the styles' LoRAs and write the fused style (and, with `bake`, one merged LoRA)."""
    validate_name(name)
    check_free(styles_dir, name, overwrite=overwrite)
    specs = [(_spec(registry, style), weight) for style, weight in weighted]
    model_info = unet_linear_shapes(model_path) if model_path is not None else None
    unet_config: Mapping | None = model_info[1] if model_info else None
    components = [
        Component(spec.name, ref, weight * ref.scale, read_lora(ref, unet_config=unet_config))
        for spec, weight in specs
        for ref in spec.loras
    ]
    if not components:
        raise StudioError("None of these styles has a LoRA, so there is nothing to fuse.")
    if model_info is not None:
        for component in components:
            check_fits_model(component, model_info[0], str(model_path))
    check_consistent(components)

    first = specs[0][0]
    triggers = list(dict.fromkeys(t for spec, _ in specs for t in spec.triggers))
    description = "Fusion of " + " + ".join(f"{spec.name} x{weight:g}" for spec, weight in specs)
    draft: StyleDraft = draft_from_spec(
        first, name=name, description=description, triggers=triggers, subject=subject or first.subject
    )
    root = Path(styles_dir)
    if bake:
        weight_name = f"{name}.safetensors"
        merged = to_diffusers(merge(components))
        save_lora_file(merged, prepare_dir(root, LORA_DIR), weight_name, lora_format)
        draft.loras = [{"source": f"{LORA_DIR}/{weight_name}", "scale": 1.0}]
    else:
        draft.loras = [_source_entry(c.ref, c.factor, root) for c in components]
    return write_style(root, draft, overwrite=True)
