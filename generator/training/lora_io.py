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


@dataclass(frozen=True)
class LoraPair:
    down: torch.Tensor  # A: (rank, in_features)
    up: torch.Tensor  # B: (out_features, rank)
    scale: float = 1.0

    @property
    def rank(self) -> int:
        return int(self.down.shape[0])


CanonicalLora = dict[tuple[str, str], LoraPair]


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
        component, _, rest = key.partition(".")
        if component not in COMPONENTS:
            component, rest = "unet", key  # pre-prefix diffusers files are UNet-only
        match = _KEY_RE.match(rest)
        if match is None:
            raise LoraMismatch(f"LoRA {label} has a key this tool does not understand: {key!r}.")
        is_down = match["ab"] == "A" or "down" in (match["du"], match["du2"])
        (downs if is_down else ups)[(component, match["module"])] = value.float()
    if set(downs) != set(ups) or not downs:
        raise LoraMismatch(f"LoRA {label} is incomplete (down and up weights do not pair up).")
    pairs: CanonicalLora = {}
    for target, down in downs.items():
        up = ups[target]
        if down.ndim != 2 or up.ndim != 2 or up.shape[1] != down.shape[0]:
            raise LoraMismatch(f"LoRA {label}: module {target[1]} is not a linear LoRA (shapes differ).")
        alpha = (alphas or {}).get(f"{target[0]}.{target[1]}.alpha")
        pairs[target] = LoraPair(down, up, float(alpha) / down.shape[0] if alpha is not None else 1.0)
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
