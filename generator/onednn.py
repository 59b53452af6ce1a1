"""Linear and convolution layers that keep their weights in oneDNN's blocked layout (CPU).

PyTorch's eager `linear`/`conv2d` on a CPU hand the weight to oneDNN (or MKL) in its plain layout, and
oneDNN reorders it into the blocked layout its AMX/AVX-512 kernels read — on every call. For SDXL's
UNet that is gigabytes of reordering per step. These layers reorder once and call oneDNN's fused
operators with the packed weight: the same kernels `torch.compile` uses when it freezes a model
(`torch.ops.mkldnn._linear_pointwise` / `_convolution_pointwise`), but eagerly and without freezing,
so fused LoRA styles keep working (the weight is repacked when a style switch rewrites it, see
`generator.packing`). A packed layer runs the kernel the plain one reaches; the cost is
memory: a packed copy beside every weight in use. docs/performance/cpu.md has the measurements.

A layer computes the plain way when packing cannot apply: autograd needed (training), another
dtype or device than its weight, a padding mode oneDNN's operator does not take.
"""

from __future__ import annotations

import functools

import torch
from diffusers.models.activations import GEGLU
from torch import nn
from torch.nn import functional

from generator.packing import PackedWeight, replace_children, restore_plain_layers, share_as, swap_layers


@functools.cache
def onednn_packing_available(dtype: torch.dtype = torch.float32) -> bool:
    """True when this PyTorch build has oneDNN's packed-weight operators for `dtype` on this CPU."""
    if not torch.backends.mkldnn.is_available():
        return False
    ops = torch.ops.mkldnn
    if not all(hasattr(ops, name) for name in ("_linear_pointwise", "_reorder_linear_weight")):
        return False
    if not all(hasattr(ops, name) for name in ("_convolution_pointwise", "_reorder_convolution_weight")):
        return False
    if dtype == torch.bfloat16:
        return bool(ops._is_mkldnn_bf16_supported())
    return dtype == torch.float32


def _plain_needed(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return (
        x.device.type != "cpu"
        or x.dtype != weight.dtype
        or not onednn_packing_available(weight.dtype)
        or (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))
    )


class OneDnnLinear(PackedWeight, nn.Linear):
    """`nn.Linear` computing from a oneDNN-packed copy of its weight."""

    plain_type = nn.Linear
    _rows_hint: int = 256  # the row count the layout is chosen for (any row count works)

    def _pack(self) -> torch.Tensor:
        return torch.ops.mkldnn._reorder_linear_weight(self.weight.detach(), self._rows_hint)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _plain_needed(x, self.weight) or (self.bias is not None and self.bias.dtype != x.dtype):
            return functional.linear(x, self.weight, self.bias)
        rows = x.reshape(-1, self.in_features).contiguous()
        if self._packed is None:
            self._rows_hint = max(1, rows.shape[0])
        out = torch.ops.mkldnn._linear_pointwise(rows, self.packed_weight(), self.bias, "none", [], "")
        return out.reshape(*x.shape[:-1], self.out_features)


class OneDnnConv2d(PackedWeight, nn.Conv2d):
    """`nn.Conv2d` computing from a oneDNN-packed copy of its weight (output in channels-last)."""

    plain_type = nn.Conv2d
    _input_hint: list[int] | None = None  # the input shape the layout is chosen for

    def _pack(self) -> torch.Tensor:
        hint = self._input_hint or [1, self.in_channels, 64, 64]
        padding, stride, dilation = self._args()
        return torch.ops.mkldnn._reorder_convolution_weight(
            self.weight.detach(), padding, stride, dilation, self.groups, hint
        )

    def _args(self) -> tuple[list[int], list[int], list[int]]:
        return list(self.padding), list(self.stride), list(self.dilation)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            _plain_needed(x, self.weight)
            or isinstance(self.padding, str)
            or self.padding_mode != "zeros"
            or x.dim() != 4
            or (self.bias is not None and self.bias.dtype != x.dtype)
        ):
            return super().forward(x)
        if not (x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last)):
            x = x.contiguous(memory_format=torch.channels_last)
        if self._packed is None:
            self._input_hint = list(x.shape)
        padding, stride, dilation = self._args()
        return torch.ops.mkldnn._convolution_pointwise(
            x, self.packed_weight(), self.bias, padding, stride, dilation, self.groups, "none", [], ""
        )


class OneDnnGatedLinear(OneDnnLinear):
    """The projection of a GEGLU, packed as its value and gate halves so that oneDNN applies the GELU
    and the product inside the two matmuls (no separate passes over the 4x-wide activations)."""

    def _pack(self) -> tuple[torch.Tensor, torch.Tensor]:
        weight, half = self.weight.detach(), self.out_features // 2
        return (
            torch.ops.mkldnn._reorder_linear_weight(weight[:half].contiguous(), self._rows_hint),
            torch.ops.mkldnn._reorder_linear_weight(weight[half:].contiguous(), self._rows_hint),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # called on its own: the whole projection
        return functional.linear(x, self.weight, self.bias)

    def gated(self, x: torch.Tensor) -> torch.Tensor | None:
        """value(x) * gelu(gate(x)), or None where packing cannot apply."""
        if _plain_needed(x, self.weight) or (self.bias is not None and self.bias.dtype != x.dtype):
            return None
        half = self.out_features // 2
        rows = x.reshape(-1, self.in_features).contiguous()
        if self._packed is None:
            self._rows_hint = max(1, rows.shape[0])
        value_weight, gate_weight = self.packed_weight()
        value_bias, gate_bias = (None, None) if self.bias is None else (self.bias[:half], self.bias[half:])
        gate = torch.ops.mkldnn._linear_pointwise(rows, gate_weight, gate_bias, "gelu", [], "none")
        out = torch.ops.mkldnn._linear_pointwise.binary(rows, gate, value_weight, value_bias, "mul")
        return out.reshape(*x.shape[:-1], half)


class OneDnnGEGLU(GEGLU):
    """diffusers' GEGLU computing through `OneDnnGatedLinear` (exact GELU, as `F.gelu`'s default)."""

    def forward(self, hidden_states: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        proj = self.proj
        if isinstance(proj, OneDnnGatedLinear) and (out := proj.gated(hidden_states)) is not None:
            return out
        return super().forward(hidden_states, *args, **kwargs)


def _pack_geglus(model: nn.Module) -> int:
    def packed(geglu: nn.Module) -> nn.Module:
        fused = share_as(geglu, OneDnnGEGLU)
        fused.proj = share_as(geglu.proj, OneDnnGatedLinear)
        return fused

    return replace_children(
        model, lambda child: type(child) is GEGLU and type(child.proj) is nn.Linear, packed
    )


ONEDNN_LAYERS: tuple[tuple[type[nn.Module], type[nn.Module]], ...] = (
    (nn.Linear, OneDnnLinear),
    (nn.Conv2d, OneDnnConv2d),
)


def pack_for_onednn(model: nn.Module, *, linears: bool = True, convolutions: bool = True) -> int:
    """Swap the plain linear/conv layers under `model` for oneDNN-packed ones; returns how many.

    Layers pack on first use (weights of unused layers get no copy)."""
    count = _pack_geglus(model) if linears else 0
    for plain, packed in ONEDNN_LAYERS:
        if (plain is nn.Linear and linears) or (plain is nn.Conv2d and convolutions):
            count += swap_layers(model, plain, packed)
    return count


def unpack_onednn(model: nn.Module) -> int:
    """Give `model` its plain layers back (the packed copies are freed with them)."""
    replace_children(
        model, lambda child: isinstance(child, OneDnnGEGLU), lambda child: share_as(child, GEGLU)
    )
    return restore_plain_layers(model, OneDnnLinear) + restore_plain_layers(model, OneDnnConv2d)


def has_onednn_layers(model: nn.Module | None) -> bool:
    return model is not None and any(isinstance(m, OneDnnLinear | OneDnnConv2d) for m in model.modules())
