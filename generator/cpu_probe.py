"""A start-up measurement that settles `model.precision: auto` where the CPU's flags cannot.

AMX (`amx_bf16`) makes bf16 several times faster than fp32, and an AVX2-only CPU has no native bf16 at
all: the flags decide those. A CPU with `avx512_bf16` but no AMX is ambiguous — on the AMD EPYC of the
issue bf16 was the fastest path, while on an Intel core kept off its AMX tiles bf16 ran no faster than
fp32 and int8 (AVX512-VNNI) was about three times faster (docs/performance/cpu.md). So there the engine
times one linear layer of the UNet's shape in each candidate precision (about half a second) and takes
the fastest, preferring bf16 and fp32 over int8 unless int8 clearly wins (int8 costs some accuracy).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable

import torch
from torch import nn

PROBE_ROWS, PROBE_IN, PROBE_OUT = 256, 1280, 5120  # a feed-forward layer of SDXL's 16x16 level
BF16_CLOSE_ENOUGH = 0.9  # bf16 is taken when it reaches this share of the fastest
INT8_MUST_WIN_BY = 1.2  # int8 is taken over fp32 only when this much faster


def pick_precision(gflops: dict[str, float]) -> str:
    """The precision to use from measured GFLOP/s per candidate ("bf16", "fp32", "int8")."""
    best = max(gflops.values())
    if gflops.get("bf16", 0.0) >= BF16_CLOSE_ENOUGH * best:
        return "bf16"
    if gflops.get("int8", 0.0) >= INT8_MUST_WIN_BY * gflops.get("fp32", 0.0):
        return "int8"
    return "fp32"


def probe_linear_speeds(candidates: Iterable[str], repeats: int = 5) -> dict[str, float]:
    """GFLOP/s of one (256 x 1280 → 5120) linear layer per candidate precision, as the engine runs it."""
    from generator.int8 import Int8Linear
    from generator.onednn import OneDnnLinear, onednn_packing_available
    from generator.packing import share_as

    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(PROBE_OUT, PROBE_IN, generator=generator) * PROBE_IN**-0.5
    x = torch.randn(PROBE_ROWS, PROBE_IN, generator=generator)
    flops = 2.0 * PROBE_ROWS * PROBE_IN * PROBE_OUT
    speeds: dict[str, float] = {}
    for name in candidates:
        dtype = torch.bfloat16 if name == "bf16" else torch.float32
        layer = nn.Linear(PROBE_IN, PROBE_OUT).to(dtype)
        with torch.no_grad():
            layer.weight.copy_(weight)
        if name == "int8":
            layer = Int8Linear.from_linear(layer)
        elif onednn_packing_available(dtype):
            layer = share_as(layer, OneDnnLinear)
        inputs = x.to(dtype)
        times = []
        with torch.inference_mode():
            for i in range(repeats + 2):  # two warm-up calls: packing, kernel selection
                started = time.perf_counter()
                layer(inputs)
                if i >= 2:
                    times.append(time.perf_counter() - started)
        speeds[name] = flops / statistics.median(times) / 1e9
    return speeds
