"""`python -m bench.unet_int8 [--emulate-avx2]`: the full-size UNet step alone, fp32 vs int8 (vs bf16
where the CPU has it), interleaved in one process, with FLOP/s against the CPU's peak.

The lean cousin of `python -m bench --full-size` for a shared CPU box: only the UNet (10 GB in fp32,
+2.5 GB of int8 weights), so it fits where the whole pipeline with its fp32 baseline does not.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

from bench.cpu_limits import (
    AVX2_ENV,
    describe_cpu,
    effective_flags,
    emulating_avx2,
    peak_gflops,
    unet_step_flops,
)
from bench.report import Report, median, peak_rss_mb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.unet_int8")
    parser.add_argument("--emulate-avx2", action="store_true", help="cap the CPU libraries at AVX2")
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per variant (default 3)")
    args = parser.parse_args(argv)
    if args.emulate_avx2 and not emulating_avx2():
        os.execve(
            sys.executable,
            [sys.executable, "-m", "bench.unet_int8", *sys.argv[1:]],
            {**os.environ, **AVX2_ENV},
        )
    report = Report(mode="unet-int8")
    run(report, args.repeats)
    print()
    print(report.table())
    print(f"\nfigures written to {report.write_json(__import__('pathlib').Path('bench-results'))}")
    return 0


def run(report: Report, repeats: int) -> None:
    import datetime as dt

    import torch
    from diffusers import UNet2DConditionModel
    from diffusers.models.attention_processor import AttnProcessor2_0

    from generator.fullsize import UNET_CONFIG, materialise
    from generator.int8 import fp32_reference, quantize_linears

    cpu = describe_cpu()
    flags = effective_flags()
    total, linear = unet_step_flops(1, 512)
    section = "full-size UNet step, 512x512, batch 1"
    date = dt.datetime.now(dt.UTC).isoformat()[:16]
    print(f"CPU {cpu['model']}, {cpu['cores']} cores, {cpu['mhz']:.0f} MHz, {cpu['class']}, {date}")
    report.add(section, "CPU", None, "", note=f"{cpu['class']}; flags: {' '.join(cpu['flags'])}; {date} UTC")
    report.raw["cpu"] = cpu
    with torch.device("meta"):
        unet = UNet2DConditionModel(**UNET_CONFIG)  # type: ignore[arg-type]
    materialise(unet, torch.device("cpu"), torch.float32, seed=0)
    unet.set_attn_processor(AttnProcessor2_0())
    unet.fuse_qkv_projections()
    unet.to(memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(0)
    inputs = {
        "sample": torch.randn(1, 4, 64, 64, generator=generator),
        "timestep": torch.tensor([999.0]),
        "encoder_hidden_states": torch.randn(1, 77, 2048, generator=generator),
        "added_cond_kwargs": {
            "text_embeds": torch.randn(1, 1280, generator=generator),
            "time_ids": torch.tensor([[512.0, 512, 0, 0, 512, 512]]),
        },
    }

    def step(dtype=torch.float32):
        args = {
            k: (v.to(dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else v)
            for k, v in inputs.items()
        }
        args["added_cond_kwargs"] = {k: v.to(dtype) for k, v in inputs["added_cond_kwargs"].items()}
        started = time.perf_counter()
        with torch.inference_mode():
            out = unet(**args, return_dict=False)[0]
        return time.perf_counter() - started, out.float()

    quantize_linears(unet)
    times: dict[str, list[float]] = {"fp32": [], "int8": []}
    with fp32_reference():
        step()  # first call: allocations
    _, int8_out = step()  # packs the int8 weights
    with fp32_reference():
        _, fp32_out = step()
    for _ in range(repeats):  # interleaved, so changing load on a shared box hits both
        with fp32_reference():
            times["fp32"].append(step()[0])
        times["int8"].append(step()[0])
    noise = float(torch.mean((int8_out - fp32_out) ** 2))
    signal = float(torch.mean(fp32_out**2))
    report.add(section, "UNet output SNR, int8 vs fp32", 10 * math.log10(signal / noise), "dB")
    variants = ["fp32", "int8"]
    if any(f in flags for f in ("avx512_bf16", "amx_bf16")):
        from generator.int8 import dequantize_linears

        dequantize_linears(unet)
        unet.to(torch.bfloat16)
        step(torch.bfloat16)
        times["bf16"] = [step(torch.bfloat16)[0] for _ in range(repeats)]
        variants.append("bf16")
    cores, mhz = int(cpu["cores"]), float(cpu["mhz"])
    for name in variants:
        seconds = median(times[name])
        achieved = total / 1e9 / seconds
        peak = peak_gflops(flags, name, cores, mhz)
        report.add(
            section,
            f"UNet step {name}",
            seconds * 1000,
            "ms",
            note=f"{achieved:.0f} GFLOP/s = {100 * achieved / peak:.0f}% of the {name} peak ({peak:.0f})",
        )
    report.add(section, "int8 speed-up over fp32", median(times["fp32"]) / median(times["int8"]), "x")
    report.add(section, "linear layers' share of the FLOPs", 100 * linear / total, "%")
    report.raw["times_s"] = times
    report.add(section, "peak resident memory", peak_rss_mb(), "MB")


if __name__ == "__main__":
    sys.exit(main())
