"""int8 linear layers for CPUs without native bf16 (AVX2-only servers).

Every `nn.Linear` of the UNet and the text encoders becomes an `Int8Linear`: weights quantized per
output channel to int8 and packed for FBGEMM, activations quantized per call (dynamic quantization,
`reduce_range` so AVX2's 16-bit intermediate sums cannot saturate), fp32 out. Convolutions, norms
and attention stay fp32. This is PyTorch's own x86 int8 kernel, chosen by measurement over OpenVINO
and torchao (docs/performance/cpu.md): it runs eagerly, so nothing is compiled or frozen.

Styles: `Int8Linear` keeps its fp32 weight as the master copy that LoRA fusion writes in place, and
repacks itself when that weight changed (`generator.packing`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn import functional

from generator.packing import PackedWeight, restore_plain_layers, share_as, swap_layers

_FP32_REFERENCE = False

INT8_ENGINES = ("x86", "fbgemm")


def int8_kernels_available() -> bool:
    """True when this PyTorch build has its x86 int8 (FBGEMM) kernels."""
    return any(engine in torch.backends.quantized.supported_engines for engine in INT8_ENGINES)


class Int8Linear(PackedWeight, nn.Linear):
    """A linear layer computing in int8; `weight` stays the fp32 master (LoRA fusion writes it).

    A subclass of `nn.Linear`, so peft and diffusers (LoRA loading, fused QKV) treat it as one.
    """

    plain_type = nn.Linear

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> Int8Linear:
        return share_as(linear, cls)

    def _pack(self) -> torch.Tensor:
        """Quantize the current fp32 weight per output channel (symmetric) and pack it for FBGEMM."""
        weight = self.weight.detach().float()
        scales = (weight.abs().amax(dim=1) / 127.0).clamp_min(1e-12).double()
        zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
        bias = None if self.bias is None else self.bias.detach().float()
        with warnings.catch_warnings():  # quantized tensors are deprecated in favour of torchao (see docs)
            warnings.simplefilter("ignore")
            qweight = torch.quantize_per_channel(weight, scales, zero_points, 0, torch.qint8)
            return torch.ops.quantized.linear_prepack(qweight, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _FP32_REFERENCE:
            return functional.linear(x, self.weight, self.bias)
        dtype = x.dtype
        out = torch.ops.quantized.linear_dynamic(x.float().contiguous(), self.packed_weight(), True)
        return out if dtype == torch.float32 else out.to(dtype)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, int8"


@contextmanager
def fp32_reference() -> Iterator[None]:
    """Int8 layers compute with their fp32 weights inside this block (the bench's same-seed reference)."""
    global _FP32_REFERENCE
    _FP32_REFERENCE = True
    try:
        yield
    finally:
        _FP32_REFERENCE = False


def quantize_linears(model: nn.Module) -> int:
    """Swap every `nn.Linear` under `model` for an `Int8Linear` (sharing its weights); returns how many.

    Weights are packed lazily on first use, so layers that are never called (e.g. the separate
    q/k/v projections after `fuse_qkv_projections`) cost no packed copy."""
    if not int8_kernels_available():
        raise RuntimeError("this PyTorch build has no x86 int8 kernels (FBGEMM)")
    if "x86" in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = "x86"
    return swap_layers(model, nn.Linear, Int8Linear)


def dequantize_linears(model: nn.Module) -> int:
    """Swap every `Int8Linear` back for a plain `nn.Linear` sharing its weights; returns how many."""
    return restore_plain_layers(model, Int8Linear)
