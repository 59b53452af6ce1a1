"""Measure the cost of switching between fused LoRA styles: `python -m bench.switch_cost`.

Two styles with random LoRAs on every attention projection (rank 4 on the tiny model, rank 64 on
the full-size architecture with `--full-size`) are activated alternately; each switch is timed with
no hot styles (restore the base weights and fuse with one matmul per layer) and with hot styles
(copy cached fused weights). Prints a table; `--json FILE` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from diffusers import StableDiffusionXLPipeline

from generator.lora_files import write_random_lora
from generator.model import DTYPES, choose_device
from generator.options import ModelConfig
from generator.pipeline import StickerPipeline
from generator.styles import StyleRegistry


def write_two_lora_styles(directory: Path, unet: torch.nn.Module, rank: int) -> StyleRegistry:
    """Styles `one` and `two`, each with its own random LoRA on every attention projection."""
    for index, name in enumerate(("one", "two")):
        write_random_lora(directory / f"{name}.safetensors", unet, rank=rank, seed=index, std=0.01)
        (directory / f"{name}.yaml").write_text(
            f"name: {name}\ndescription: switch benchmark\nloras:\n  - source: {name}.safetensors\n",
            encoding="utf-8",
        )
    return StyleRegistry.load(directory, strict=True)


def measure(
    pipe: StableDiffusionXLPipeline, rank: int, *, hot_styles: int, switches: int
) -> dict[str, float]:
    """Median/p95/max milliseconds of `switches` alternating switches between two LoRA styles."""
    with tempfile.TemporaryDirectory(prefix="stickerbot-switch-") as tmp:
        registry = write_two_lora_styles(Path(tmp), pipe.unet, rank)
        start = time.perf_counter()
        cfg = ModelConfig(fuse_qkv=True, channels_last=True, compile="off")
        sticker_pipe = StickerPipeline.from_pipeline(pipe, registry, cfg, hot_styles=hot_styles)
        prepare_s = time.perf_counter() - start
        sticker_pipe.activate_style("one")
        sticker_pipe.activate_style("two")  # first fusion of each style fills the hot cache
        times = [sticker_pipe.activate_style("one" if i % 2 == 0 else "two") for i in range(switches)]
        sticker_pipe.activate_style("one")
        sticker_pipe._fuser.reset()  # leave the pipeline as it was for the next measurement
    times.sort()
    return {
        "median_ms": statistics.median(times),
        "p95_ms": times[min(len(times) - 1, int(0.95 * len(times)))],
        "max_ms": times[-1],
        "prepare_s": prepare_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.switch_cost", description=__doc__)
    parser.add_argument(
        "--full-size", action="store_true", help="the SDXL-Turbo architecture (random weights)"
    )
    parser.add_argument("--rank", type=int, help="LoRA rank (default 4 tiny, 64 full size)")
    parser.add_argument("--switches", type=int, default=10)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)

    choice = choose_device(ModelConfig(device=args.device, dtype=args.dtype))
    dtype = DTYPES.get(args.dtype, choice.dtype)
    if args.full_size:
        from generator.fullsize import build_fullsize_pipeline

        pipe = build_fullsize_pipeline(choice.device, dtype)
        rank = args.rank or 64
    else:
        from generator.tiny import build_tiny_pipeline

        pipe = build_tiny_pipeline().to(device=choice.device, dtype=dtype)
        rank = args.rank or 4
    rows = {}
    for hot in (0, 2):
        rows[f"hot_styles={hot}"] = measure(pipe, rank, hot_styles=hot, switches=args.switches)
    model = "full-size" if args.full_size else "tiny"
    print(
        f"style switch, {model} model, rank-{rank} LoRAs on all attention projections, "
        f"{choice.device} {dtype}"
    )
    print(f"{'strategy':<14} {'median ms':>10} {'p95 ms':>10} {'max ms':>10} {'prepare s':>10}")
    for name, row in rows.items():
        print(
            f"{name:<14} {row['median_ms']:>10.2f} {row['p95_ms']:>10.2f} {row['max_ms']:>10.2f} "
            f"{row['prepare_s']:>10.2f}"
        )
    if args.json:
        payload = {"model": model, "rank": rank, "device": str(choice.device), "dtype": str(dtype), **rows}
        Path(args.json).write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
