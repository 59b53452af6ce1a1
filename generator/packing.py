"""Layers that keep a packed copy of their weight for a faster CPU kernel.

The parameter `weight` stays the master copy, so LoRA fusion, state dicts, peft and training see an
ordinary `nn.Linear` / `nn.Conv2d`. The packed copy is made on first use and made again when the
master changed: a new storage, a new dtype, or an in-place write (a style switch bumps the tensor's
version counter). `repack_stale` does that right after a style switch, so the switch pays for it
rather than the next request. Used by `generator.int8` (FBGEMM int8) and `generator.onednn`
(oneDNN's blocked bf16/fp32 layouts).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import nn

L = TypeVar("L", bound=nn.Module)


class PackedWeight:
    """Mixin for an `nn.Linear`/`nn.Conv2d` subclass that computes from a packed copy of `weight`."""

    weight: torch.Tensor
    plain_type: type[nn.Module]  # the layer class it stands in for
    _packed: Any
    _packed_key: tuple[int, int, torch.dtype] | None

    def _reset_packing(self) -> None:
        self._packed = None
        self._packed_key = None

    def _weight_key(self) -> tuple[int, int, torch.dtype]:
        weight = self.weight
        return (weight.data_ptr(), weight._version, weight.dtype)

    @property
    def is_packed(self) -> bool:
        return self._packed is not None

    @property
    def stale(self) -> bool:
        return self._packed is None or self._packed_key != self._weight_key()

    def _pack(self) -> Any:
        raise NotImplementedError

    @torch.no_grad()
    def repack(self) -> None:
        self._packed = self._pack()
        self._packed_key = self._weight_key()

    def packed_weight(self) -> Any:
        if self.stale:
            self.repack()
        return self._packed


def share_as(layer: nn.Module, cls: type[L]) -> L:
    """A new `cls` layer sharing `layer`'s parameters, buffers, settings and hooks (no copy of weights)."""
    new = cls.__new__(cls)
    new.__dict__.update(layer.__dict__)
    new.__dict__["_parameters"] = dict(layer._parameters)
    new.__dict__["_buffers"] = dict(layer._buffers)
    new.__dict__["_modules"] = dict(layer._modules)
    if issubclass(cls, PackedWeight):
        new._reset_packing()
    else:
        new.__dict__.pop("_packed", None)
        new.__dict__.pop("_packed_key", None)
    return new


def replace_children(
    model: nn.Module, wanted: Callable[[nn.Module], bool], make: Callable[[nn.Module], nn.Module]
) -> int:
    """Replace every submodule of `model` for which `wanted` holds by `make(it)`; returns how many."""
    swaps = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if wanted(child)
    ]
    for parent, name, child in swaps:
        setattr(parent, name, make(child))
    return len(swaps)


def swap_layers(model: nn.Module, plain_type: type[nn.Module], cls: type[nn.Module]) -> int:
    """Replace every layer of exactly `plain_type` under `model` by a weight-sharing `cls`; returns how many.

    Nothing is packed here: layers pack on first use, so layers that are never called (e.g. the separate
    q/k/v projections after `fuse_qkv_projections`) cost no packed copy."""
    return replace_children(
        model, lambda child: type(child) is plain_type, lambda child: share_as(child, cls)
    )


def restore_plain_layers(model: nn.Module, kind: type[PackedWeight] = PackedWeight) -> int:
    """Swap every packed layer of `kind` back for its plain class (sharing weights); returns how many."""
    return replace_children(
        model, lambda child: isinstance(child, kind), lambda child: share_as(child, child.plain_type)
    )


def repack_stale(*models: nn.Module | None) -> int:
    """Repack the packed layers whose master weight changed (after a style switch); returns how many.
    Layers never used yet stay unpacked."""
    count = 0
    for model in models:
        if model is None:
            continue
        for module in model.modules():
            if isinstance(module, PackedWeight) and module.is_packed and module.stale:
                module.repack()
                count += 1
    return count
