"""Writing LoRA files: random LoRAs for tests and benchmarks, in the diffusers/peft key format.

A LoRA made here is an ordinary `.safetensors` file with `unet.<module>.lora_A.weight` /
`unet.<module>.lora_B.weight` pairs, the format `load_lora_weights` reads, so it goes through
exactly the same loading, validation and fusion path as a LoRA downloaded from the hub.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

ATTENTION_PROJECTIONS = ("to_q", "to_k", "to_v", "to_out.0")


def attention_projection_names(unet: nn.Module) -> list[str]:
    """Names of every attention projection Linear in the UNet's transformer blocks."""
    names = []
    for name, module in unet.named_modules():
        if isinstance(module, nn.Linear) and ".attn" in name and name.endswith(ATTENTION_PROJECTIONS):
            names.append(name)
    return names


def random_lora_state_dict(
    unet: nn.Module, *, rank: int = 4, seed: int = 0, std: float = 0.05
) -> dict[str, torch.Tensor]:
    """A rank-`rank` LoRA on every attention projection, with both factors random (non-zero)."""
    generator = torch.Generator().manual_seed(seed)
    modules = dict(unet.named_modules())
    state: dict[str, torch.Tensor] = {}
    for name in attention_projection_names(unet):
        linear = modules[name]
        assert isinstance(linear, nn.Linear)
        down = torch.randn(rank, linear.in_features, generator=generator) * std
        up = torch.randn(linear.out_features, rank, generator=generator) * std
        state[f"unet.{name}.lora_A.weight"] = down.contiguous()
        state[f"unet.{name}.lora_B.weight"] = up.contiguous()
    return state


def write_random_lora(
    path: str | Path, unet: nn.Module, *, rank: int = 4, seed: int = 0, std: float = 0.05
) -> Path:
    """Write a random LoRA for `unet` to `path` (a `.safetensors` file) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    state = random_lora_state_dict(unet, rank=rank, seed=seed, std=std)
    save_file(state, str(target), metadata={"format": "pt", "stickerbot": "random-test-lora"})
    return target
