"""Animated-sticker benchmark: `python -m bench.animation [--full-size]`.

Reports, side by side in one run: motion-preset ms per 24-frame 512 px clip (wall and this thread's CPU
time, which is robust to a busy machine), encoding ms and bytes per format, AnimateDiff on the tiny
model (8 and 16 frames, 512 px, 1 step) and, with `--full-size`, on the real SDXL + motion-adapter
architecture with random weights (bf16 where the CPU has it; needs about 12 GB free).
"""

from __future__ import annotations

import argparse
import gc
import logging
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.report import Report, peak_rss_mb

PRESET_TARGET_MS = 150.0
FULL_SIZE_MIN_FREE_GB = 14


def _time(fn: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """Median wall ms, median thread-CPU ms and the last result of `repeats` calls (after one warm-up)."""
    result = fn()
    wall, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.thread_time(), time.perf_counter()
        result = fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
    return statistics.median(wall), statistics.median(cpu), result


def _sticker():
    from generator.postprocess import StickerOptions, cutout, finish_rgba
    from generator.postprocess.synthetic import sticker_scene

    options = StickerOptions(outline=8)
    return finish_rgba(cutout(sticker_scene(512, (255, 255, 255), seed=3).image, options), options)


def cpu_flags() -> str:
    """The CPU's model and the flags that matter for these figures."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    lines = info.splitlines()
    model = next((line.split(":", 1)[1].strip() for line in lines if "model name" in line), "?")
    flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model}, {info.count('processor')} cores, flags: {' '.join(wanted) or 'none of avx2/avx512/amx'}"


def bench_presets(report: Report, repeats: int) -> None:
    """Each preset now and as it was before band-limited resampling (`bench.animation_before`),
    interleaved run by run so both see the same load."""
    from bench.animation_before import animate_before
    from generator.animation.motion import PRESETS, animate

    sticker = _sticker()
    for name in PRESETS:
        now = lambda name=name: animate(sticker, name, fps=24, duration_s=1.0)  # noqa: E731
        before = lambda name=name: animate_before(sticker, name, fps=24, duration_s=1.0)  # noqa: E731
        now(), before()  # warm-up
        cpu: dict[str, list[float]] = {"now": [], "before": []}
        wall: dict[str, list[float]] = {"now": [], "before": []}
        for _ in range(repeats):
            for label, fn in (("before", before), ("now", now)):
                c0, t0 = time.thread_time(), time.perf_counter()
                fn()
                wall[label].append((time.perf_counter() - t0) * 1000)
                cpu[label].append((time.thread_time() - c0) * 1000)
        c_now, c_before = statistics.median(cpu["now"]), statistics.median(cpu["before"])
        w_now = statistics.median(wall["now"])
        report.add("presets", f"{name}: 24 frames at 512 px", w_now, "ms", f"<= {PRESET_TARGET_MS:.0f}",
                   f"cpu {c_now:.0f} ms (before {c_before:.0f} ms, x{c_before / c_now:.2f})")  # fmt: skip
        report.raw[f"preset_{name}"] = {
            "wall_ms": w_now,
            "cpu_ms": c_now,
            "before_wall_ms": statistics.median(wall["before"]),
            "before_cpu_ms": c_before,
        }


def bench_encoders(report: Report, repeats: int) -> None:
    from generator.animation.encode import discord_server_sticker_animated, encode_clip
    from generator.animation.motion import animate

    clip = animate(_sticker(), "bounce", fps=24, duration_s=1.0)
    jobs: list[tuple[str, Callable[[], bytes], str]] = [
        ("telegram webm (vp9+alpha, checked)", lambda: encode_clip(clip, "webm"), "<= 256,000 B"),
        ("gif 512 px", lambda: encode_clip(clip, "gif"), ""),
        ("animated webp 512 px", lambda: encode_clip(clip, "webp"), ""),
        ("apng 512 px", lambda: encode_clip(clip, "apng"), ""),
        (
            "discord sticker apng 320 px",
            lambda: discord_server_sticker_animated(clip, "apng"),
            "<= 524,288 B",
        ),
        ("discord sticker gif 320 px", lambda: discord_server_sticker_animated(clip, "gif"), "<= 524,288 B"),
    ]
    for label, job, target in jobs:
        wall, cpu, data = _time(job, repeats)
        size = len(data)  # type: ignore[arg-type]
        report.add("encode (24 frames)", f"{label}: time", wall, "ms", note=f"cpu {cpu:.0f} ms")
        report.add("encode (24 frames)", f"{label}: size", size, "B", target)
        report.raw[f"encode_{label}"] = {"wall_ms": wall, "cpu_ms": cpu, "bytes": size}


def bench_tiny_animatediff(report: Report, repeats: int) -> None:
    import torch

    from generator.animation.clip_cutout import cut_clip
    from generator.animation.diffusion import ClipDiffuser, build_tiny_motion_adapter
    from generator.tiny import build_tiny_pipeline

    diffuser = ClipDiffuser(build_tiny_pipeline(), build_tiny_motion_adapter())
    diffuser.pipeline("tiny")
    for frames in (8, 16):
        with torch.inference_mode():
            wall, cpu, images = _time(
                lambda frames=frames: diffuser.run("waving otter", 1, frames=frames), repeats
            )
        report.add(
            "animatediff tiny", f"{frames} frames 512 px, 1 step", wall, "ms", note=f"cpu {cpu:.0f} ms"
        )
        cut_wall, _, _ = _time(lambda images=images: cut_clip(images, 8.0), 1)  # type: ignore[arg-type]
        report.add("animatediff tiny", f"{frames}-frame clip cut-out (one key, smoothed)", cut_wall, "ms")


def _free_gb() -> float:
    try:
        out = subprocess.run(["free", "-g"], capture_output=True, text=True, check=True).stdout.splitlines()
        return float(out[1].split()[6])  # "available"
    except (OSError, subprocess.CalledProcessError, IndexError, ValueError):
        return 0.0


def bench_fullsize_animatediff(report: Report, frames: int) -> None:
    """The real architecture with random weights, built as a motion UNet directly (one UNet copy)."""
    free = _free_gb()
    if free < FULL_SIZE_MIN_FREE_GB:
        report.add("animatediff full size", "skipped", None, "", note=f"{free:.0f} GB available, needs "
                   f"{FULL_SIZE_MIN_FREE_GB}")  # fmt: skip
        return
    import torch
    from diffusers import AnimateDiffSDXLPipeline, MotionAdapter, UNet2DConditionModel, UNetMotionModel

    from generator.fullsize import UNET_CONFIG, build_fullsize_pipeline, materialise
    from generator.model import cpu_has_native_bf16

    dtype = torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    base = build_fullsize_pipeline("cpu", dtype)
    with torch.device("meta"):
        adapter = MotionAdapter(block_out_channels=(320, 640, 1280), motion_layers_per_block=2,
                                motion_num_attention_heads=8, motion_norm_num_groups=32,
                                motion_max_seq_length=32, use_motion_mid_block=False)  # fmt: skip
        unet = UNetMotionModel.from_unet2d(UNet2DConditionModel(**UNET_CONFIG), adapter)  # type: ignore[arg-type]
    base.unet = None  # type: ignore[assignment]  # free the 2-D UNet before the motion UNet exists
    gc.collect()
    materialise(unet, torch.device("cpu"), dtype, 7)
    pipe = AnimateDiffSDXLPipeline(
        vae=base.vae, text_encoder=base.text_encoder, text_encoder_2=base.text_encoder_2,
        tokenizer=base.tokenizer, tokenizer_2=base.tokenizer_2, unet=unet, scheduler=base.scheduler,
        motion_adapter=None,  # its layers are already inside the motion UNet
    )  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    generator = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
        pipe("otter", num_frames=frames, num_inference_steps=1, guidance_scale=0.0, width=512, height=512,
             generator=generator, output_type="np")  # fmt: skip
    wall = (time.perf_counter() - t0) * 1000
    report.add(
        "animatediff full size",
        f"{frames} frames 512 px, 1 step, CPU {str(dtype)[6:]}",
        wall,
        "ms",
        "GPU goal <= 1,000 (H100, 16 frames)",
        note=f"peak RSS {peak_rss_mb() / 1024:.1f} GB",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.animation", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure (default 5)")
    parser.add_argument("--full-size", action="store_true", help="also AnimateDiff on the full architecture")
    parser.add_argument("--full-size-frames", type=int, default=8, help="frames for --full-size (default 8)")
    parser.add_argument("--no-diffusion", action="store_true", help="presets and encoders only")
    parser.add_argument("--only-presets", action="store_true", help="just the motion presets")
    parser.add_argument("--only-full-size", action="store_true", help="just the full-size AnimateDiff figure")
    parser.add_argument(
        "--out", default="bench-results", help="directory for the JSON (default bench-results/)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    report = Report(mode="animation-full-size" if args.only_full_size else "animation")
    report.raw["cpu"] = cpu_flags()
    print(cpu_flags())
    if args.only_full_size:
        bench_fullsize_animatediff(report, args.full_size_frames)
    else:
        bench_presets(report, args.repeats)
    if not args.only_full_size and not args.only_presets:
        bench_encoders(report, max(1, args.repeats // 2))
        if not args.no_diffusion:
            bench_tiny_animatediff(report, max(1, args.repeats // 2))
            if args.full_size:
                bench_fullsize_animatediff(report, args.full_size_frames)
    print()
    print(report.table())
    print(f"\nfigures written to {report.write_json(Path(args.out))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
