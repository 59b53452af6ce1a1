"""int8 linear layers for CPUs without native bf16 (AVX2-only servers).

Every `nn.Linear` of the UNet and the text encoders becomes an `Int8Linear`: weights quantized per
output channel to int8 and packed for FBGEMM, activations quantized per call (dynamic quantization,
`reduce_range` so AVX2's 16-bit intermediate sums cannot saturate), fp32 out. Convolutions, norms
and attention stay fp32. This is PyTorch's own x86 int8 kernel, chosen by measurement over OpenVINO
and torchao (docs/performance/cpu.md): it runs eagerly, so nothing is compiled or frozen.

Styles: `Int8Linear` keeps its fp32 weight as the master copy that LoRA fusion writes in place, and
repacks itself when that weight changed (the tensor's version counter says so). `repack_stale`
does it right after a style switch, so the cost is paid by the switch, not the next request.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn import functional

_FP32_REFERENCE = False

INT8_ENGINES = ("x86", "fbgemm")


def int8_kernels_available() -> bool:
    """True when this PyTorch build has its x86 int8 (FBGEMM) kernels."""
    return any(engine in torch.backends.quantized.supported_engines for engine in INT8_ENGINES)


class Int8Linear(nn.Linear):
    """A linear layer computing in int8; `weight` stays the fp32 master (LoRA fusion writes it).

    A subclass of `nn.Linear`, so peft and diffusers (LoRA loading, fused QKV) treat it as one.
    """

    _packed: torch.Tensor | None
    _packed_version: int

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> Int8Linear:
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)
        layer.in_features, layer.out_features = linear.in_features, linear.out_features
        layer.weight = linear.weight
        layer.bias = linear.bias
        layer._packed = None
        layer._packed_version = -1
        return layer

    @property
    def stale(self) -> bool:
        return self._packed is None or self._packed_version != self.weight._version

    @torch.no_grad()
    def repack(self) -> None:
        """Quantize the current fp32 weight per output channel (symmetric) and pack it for FBGEMM."""
        weight = self.weight.detach().float()
        scales = (weight.abs().amax(dim=1) / 127.0).clamp_min(1e-12).double()
        zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
        bias = None if self.bias is None else self.bias.detach().float()
        with warnings.catch_warnings():  # quantized tensors are deprecated in favour of torchao (see docs)
            warnings.simplefilter("ignore")
            qweight = torch.quantize_per_channel(weight, scales, zero_points, 0, torch.qint8)
            self._packed = torch.ops.quantized.linear_prepack(qweight, bias)
        self._packed_version = self.weight._version

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _FP32_REFERENCE:
            return functional.linear(x, self.weight, self.bias)
        if self.stale:
            self.repack()
        dtype = x.dtype
        out = torch.ops.quantized.linear_dynamic(x.float().contiguous(), self._packed, True)
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
    swaps: list[tuple[nn.Module, str, nn.Linear]] = []
    for parent in model.modules():
        for name, child in parent.named_children():
            if type(child) is nn.Linear:
                swaps.append((parent, name, child))
    for parent, name, child in swaps:
        setattr(parent, name, Int8Linear.from_linear(child))
    return len(swaps)


def repack_stale(*models: nn.Module | None) -> int:
    """Repack the int8 layers whose fp32 weight changed (after a style switch); returns how many."""
    count = 0
    for model in models:
        if model is None:
            continue
        for module in model.modules():
            if isinstance(module, Int8Linear) and module._packed is not None and module.stale:
                module.repack()
                count += 1
    return count


def has_int8_layers(model: nn.Module | None) -> bool:
    return model is not None and any(isinstance(m, Int8Linear) for m in model.modules())


def dequantize_linears(model: nn.Module) -> int:
    """Swap every `Int8Linear` back for a plain `nn.Linear` sharing its weights; returns how many."""
    swaps = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if isinstance(child, Int8Linear)
    ]
    for parent, name, child in swaps:
        linear = nn.Linear.__new__(nn.Linear)
        nn.Module.__init__(linear)
        linear.in_features, linear.out_features = child.in_features, child.out_features
        linear.weight, linear.bias = child.weight, child.bias
        setattr(parent, name, linear)
    return len(swaps)
