"""What the CPU can do: its flags (real or AVX2-emulated), its peak per precision, the UNet's FLOPs.

`--emulate-avx2` approximates an AVX2-only server on a newer CPU: oneDNN, ATen, FBGEMM and MKL are
capped at AVX2 through their environment variables (read once when the libraries load, so the bench
re-executes itself with them set) and the flags the engine sees lose avx512*/amx*/bf16.
"""

from __future__ import annotations

import os
from pathlib import Path

AVX2_ENV = {
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "ATEN_CPU_CAPABILITY": "avx2",
    "FBGEMM_ENABLE_INSTRUCTIONS": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
}
AVX512_BF16_ENV = {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}  # no AMX tiles; ATen/MKL have no AMX bf16 path
SHOWN_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def emulating_avx2() -> bool:
    return all(os.environ.get(key) == value for key, value in AVX2_ENV.items())


def emulating_avx512_bf16() -> bool:
    return not emulating_avx2() and os.environ.get("ONEDNN_MAX_CPU_ISA") == "AVX512_CORE_BF16"


def effective_flags() -> set[str]:
    """The CPU flags the engine should act on: the real ones, or AVX2-only when emulating."""
    from generator.model import cpu_flags

    flags = cpu_flags()
    if emulating_avx2():
        flags = {f for f in flags if not f.startswith(("avx512", "amx", "avx_vnni")) and f != "bf16"}
    elif emulating_avx512_bf16():
        flags = {f for f in flags if not f.startswith("amx")}
    return flags


def describe_cpu() -> dict[str, object]:
    from generator.model import cpu_class, cpu_flags

    real = cpu_flags()
    model = ""
    mhz = 0.0
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            if key.strip() == "cpu MHz" and not mhz:
                mhz = float(value)
    except (OSError, ValueError):
        pass
    flags = effective_flags()
    return {
        "model": model,
        "mhz": mhz,
        "cores": len(os.sched_getaffinity(0)),
        "real_flags": [f for f in SHOWN_FLAGS if f in real],
        "flags": [f for f in SHOWN_FLAGS if f in flags],
        "class": cpu_class(flags) + (" (emulated on " + cpu_class(real) + ")" if flags != real else ""),
        "emulated_avx2": emulating_avx2(),
    }


def peak_gflops(flags: set[str], precision: str, cores: int, mhz: float) -> float:
    """Theoretical peak: cores x GHz x operations per cycle per core of the instructions used.

    fp32: 2 FMA ports x 16 (AVX512) or 8 (AVX2) lanes x 2. bf16: AMX 1024; AVX512-BF16 128.
    int8 (FBGEMM, multiply-adds counted as 2): AVX512-VNNI 256, AVX-VNNI 128, plain AVX2 128
    (vpmaddubsw pairs; an upper bound, its 16-bit intermediate steps make it hard to reach)."""
    if precision == "bf16":
        per_cycle = 1024 if "amx_bf16" in flags else 128 if "avx512_bf16" in flags else 0
    elif precision == "int8":
        per_cycle = 256 if "avx512_vnni" in flags else 128 if ("avx_vnni" in flags or "avx2" in flags) else 0
    else:
        per_cycle = 64 if "avx512f" in flags else 32 if "avx2" in flags else 8
    return cores * mhz / 1000.0 * per_cycle


def unet_step_flops(batch: int = 1, size: int = 512, config: dict | None = None) -> tuple[float, float]:
    """(all FLOPs, FLOPs in linear layers) of one UNet step (default: the full-size one), counted on
    the meta device."""
    import torch
    from diffusers import UNet2DConditionModel
    from diffusers.models.attention_processor import AttnProcessor2_0
    from torch.utils.flop_counter import FlopCounterMode

    from generator.fullsize import UNET_CONFIG

    config = {k: v for k, v in (config or UNET_CONFIG).items() if not k.startswith("_")}
    pooled = int(config["projection_class_embeddings_input_dim"]) - 6 * int(config["addition_time_embed_dim"])
    with torch.device("meta"):
        unet = UNet2DConditionModel(**config)  # type: ignore[arg-type]
        unet.set_attn_processor(AttnProcessor2_0())
        latent = size // 8
        args = (torch.randn(batch, 4, latent, latent), torch.tensor([999.0] * batch))
        kwargs = {
            "encoder_hidden_states": torch.randn(batch, 77, int(config["cross_attention_dim"])),
            "added_cond_kwargs": {
                "text_embeds": torch.randn(batch, pooled),
                "time_ids": torch.randn(batch, 6),
            },
        }
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            unet(*args, **kwargs)
    counts = counter.get_flop_counts()["Global"]
    linear = sum(v for op, v in counts.items() if str(op).split(".")[1] in ("addmm", "mm"))
    return float(counter.get_total_flops()), float(linear)
