"""`python -m bench [--full-size] ...`: run a suite, print the table, write JSON to bench-results/."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.report import Report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Stickerbot benchmarks. Default: the tiny model on CPU (a few minutes). "
        "--full-size: the real SDXL-Turbo architecture with random weights.",
    )
    parser.add_argument("--full-size", action="store_true", help="real architecture, random weights")
    parser.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="ray: the Ray Serve path side by side with the local engine (needs stickerbot[ray])",
    )
    parser.add_argument(
        "--out", default="bench-results", help="directory for the JSON (default bench-results/)"
    )
    tiny = parser.add_argument_group("tiny model")
    tiny.add_argument(
        "--repeats", type=int, default=20, help="sequential requests per latency side (default 20)"
    )
    tiny.add_argument("--concurrent", type=int, default=16, help="requests per throughput burst (default 16)")
    full = parser.add_argument_group("full size")
    full.add_argument("--device", default="auto", help="auto | cuda | cpu (default auto)")
    full.add_argument(
        "--latency-runs", type=int, help="batch-1 requests for p50/p95 (default: 20 GPU, 5 CPU)"
    )
    full.add_argument(
        "--batch-sizes", help="comma-separated batch sizes for throughput (default: 1,4,8,16 GPU; 1,4 CPU)"
    )
    full.add_argument("--switches", type=int, help="style switches to time (default: 6 GPU, 2 CPU)")
    full.add_argument(
        "--compile",
        default="auto",
        choices=("auto", "off", "regional", "full"),
        help="model.compile for the engine side (default auto: regional on CUDA, off on CPU)",
    )
    full.add_argument("--no-bare", action="store_true", help="skip the bare fp32 diffusers comparison")
    full.add_argument("--no-switch", action="store_true", help="skip the LoRA style-switch measurement")
    full.add_argument("--no-int8", action="store_true", help="CPU: skip the engine with int8 linear layers")
    full.add_argument("--no-peer", action="store_true", help="CPU: skip the OpenVINO int8 peer")
    full.add_argument(
        "--tiny-architecture",
        action="store_true",
        help="the full-size suite on the tiny test model (quick; the peer where full size cannot fit)",
    )
    full.add_argument(
        "--emulate-avx2",
        action="store_true",
        help="CPU: cap oneDNN/ATen/FBGEMM/MKL at AVX2 (an AVX2-only server, approximated)",
    )
    parser.add_argument(
        "--no-packed-weights",
        action="store_true",
        help="CPU: the engine without oneDNN-packed weights (model.cpu_packed_weights: false), to compare",
    )
    parser.add_argument(
        "--emulate-avx512-bf16",
        action="store_true",
        help="CPU: keep oneDNN off the AMX tiles (an AVX512-BF16 server without AMX, approximated)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.emulate_avx2 or args.emulate_avx512_bf16:
        from bench.cpu_limits import AVX2_ENV, AVX512_BF16_ENV, emulating_avx2, emulating_avx512_bf16

        env, active = (
            (AVX2_ENV, emulating_avx2()) if args.emulate_avx2 else (AVX512_BF16_ENV, emulating_avx512_bf16())
        )
        if not active:  # the libraries read these once, at load: start again with them set
            os.execve(sys.executable, [sys.executable, "-m", "bench", *sys.argv[1:]], {**os.environ, **env})
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.backend == "ray":
        from bench.ray_suite import RayOptions, run_ray_suite

        report = Report(mode="ray")
        run_ray_suite(report, RayOptions())
    elif args.full_size:
        from bench.fullsize_suite import FullSizeOptions, run_fullsize_suite

        report = Report(mode="full-size")
        run_fullsize_suite(report, FullSizeOptions.from_args(args))
    else:
        from bench.tiny_suite import TinyOptions, run_tiny_suite

        report = Report(mode="tiny")
        run_tiny_suite(report, TinyOptions(repeats=args.repeats, concurrent=args.concurrent))
    print()
    print(report.table())
    path = report.write_json(Path(args.out))
    print(f"\nfigures written to {path}")
    return 0
