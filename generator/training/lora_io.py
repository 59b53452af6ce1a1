"""Reading style LoRAs (through the engine's checked reader) into one canonical form.

Any format `load_lora_weights` accepts (diffusers/peft `lora_A`/`lora_B`, older `lora.down`/
`lora.up`, kohya `lora_unet_...` with alphas) becomes `{(component, module): LoraPair}`, where
the pair's `scale` folds in kohya's alpha/rank, so `delta W = scale * B @ A` for every format.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from diffusers import StableDiffusionXLPipeline

from generator.lora import read_lora_file, resolve_lora
from generator.styles import LoraRef
from generator.training.errors import LoraMismatch

COMPONENTS = ("unet", "text_encoder", "text_encoder_2")
_KEY_RE = re.compile(
    r"^(?P<module>.+?)\.(?:lora_(?P<ab>[AB])(?:\.default)?|lora\.(?P<du>down|up)"
    r"|lora_linear_layer\.(?P<du2>down|up))\.weight$"
)
_PROCESSOR_RE = re.compile(r"\.(to_q|to_k|to_v|to_out)_lora\.(down|up)\.")


@dataclass(frozen=True)
class LoraPair:
    down: torch.Tensor  # A: (rank, in_features)
    up: torch.Tensor  # B: (out_features, rank)
    scale: float = 1.0

    @property
    def rank(self) -> int:
        return int(self.down.shape[0])


CanonicalLora = dict[tuple[str, str], LoraPair]
Target = tuple[str, str]


def _split(key: str) -> tuple[str, str]:
    """`unet.x.y` -> ("unet", "x.y"); old attention-processor names become module names.

    diffusers turns kohya files into `...attn1.processor.to_out_lora.down.weight`; the module
    that LoRA changes is `...attn1.to_out.0`.
    """
    component, _, rest = key.partition(".")
    if component not in COMPONENTS:
        component, rest = "unet", key  # pre-prefix diffusers files are UNet-only
    rest = rest.replace(".processor.", ".")
    rest = _PROCESSOR_RE.sub(lambda m: f".{m[1]}{'.0' if m[1] == 'to_out' else ''}.lora.{m[2]}.", rest)
    return component, rest


def _alpha_scales(alphas: Mapping[str, float] | None, ranks: Mapping[Target, int]) -> dict[Target, float]:
    """kohya alphas (keyed `<module>.alpha` or `<down weight>.alpha`) as alpha/rank per target."""
    scales: dict[Target, float] = {}
    for key, alpha in (alphas or {}).items():
        component, rest = _split(key.removesuffix(".alpha"))
        match = _KEY_RE.match(rest)
        target = (component, match["module"] if match else rest)
        if target in ranks:
            scales[target] = float(alpha) / ranks[target]
    return scales


def canonical(
    state: Mapping[str, torch.Tensor], *, label: str, unet_config: Mapping | None = None
) -> CanonicalLora:
    """Convert any supported LoRA state dict to `{(component, module): LoraPair}`."""
    try:
        converted, alphas = StableDiffusionXLPipeline.lora_state_dict(dict(state), unet_config=unet_config)
    except (ValueError, KeyError, RuntimeError) as exc:
        raise LoraMismatch(f"LoRA {label} is not an SDXL LoRA diffusers understands ({exc}).") from exc
    downs: dict[tuple[str, str], torch.Tensor] = {}
    ups: dict[tuple[str, str], torch.Tensor] = {}
    for key, value in converted.items():
        component, rest = _split(key)
        match = _KEY_RE.match(rest)
        if match is None:
            raise LoraMismatch(f"LoRA {label} has a key this tool does not understand: {key!r}.")
        is_down = match["ab"] == "A" or "down" in (match["du"], match["du2"])
        (downs if is_down else ups)[(component, match["module"])] = value.float()
    if set(downs) != set(ups) or not downs:
        raise LoraMismatch(f"LoRA {label} is incomplete (down and up weights do not pair up).")
    scales = _alpha_scales(alphas, {target: int(down.shape[0]) for target, down in downs.items()})
    pairs: CanonicalLora = {}
    for target, down in downs.items():
        up = ups[target]
        if down.ndim != 2 or up.ndim != 2 or up.shape[1] != down.shape[0]:
            raise LoraMismatch(f"LoRA {label}: module {target[1]} is not a linear LoRA (shapes differ).")
        pairs[target] = LoraPair(down, up, scales.get(target, 1.0))
    return pairs


def read_lora(ref: LoraRef, *, unet_config: Mapping | None = None) -> CanonicalLora:
    """Read a style's LoRA with the engine's checks (`.safetensors` only, size and header)."""
    path = resolve_lora(ref)
    return canonical(read_lora_file(path), label=path.name, unet_config=unet_config)


def to_diffusers(pairs: CanonicalLora) -> dict[str, torch.Tensor]:
    """Canonical form -> diffusers file keys; `scale` is folded into B (files carry no alphas)."""
    state: dict[str, torch.Tensor] = {}
    for (component, module), pair in sorted(pairs.items()):
        state[f"{component}.{module}.lora_A.weight"] = pair.down.contiguous()
        state[f"{component}.{module}.lora_B.weight"] = (pair.up * pair.scale).contiguous()
    return state
