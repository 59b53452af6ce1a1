"""`python -m bench.cutout`: cut-out methods side by side — ms per 512x512 sticker and quality.

Quality on two labelled sets: the pale scenes (`generator.postprocess.scenes`: Noto emoji over
generated-looking paper with texture, vignette, falloff and a contact shadow) and the flat-key
scenes of the original tests (`generator.postprocess.synthetic`). Methods:

- `flood` — the default: on light paper the background-surface model, elsewhere the key flood;
- `flood, single key` — `surface=False`, the cut-out as it was before issue 18;
- `flood + 32x32 prior` — the default with a coarse subject prior made from the true alpha (what a
  good cross-attention map would give; an upper bound for the generator's prior);
- `segment:<tiny random SegFormer>` — the segmentation plug-in's speed (random weights: no quality).

Then the subject prior's cost inside generation: the tiny SDXL pipeline at 512x512 with and
without the attention recorder. Timings are this thread's CPU time (robust on a shared machine)
and wall time; both medians.

`--against DIR` times the default cut-out of another checkout (e.g. `git worktree add /tmp/before
<commit>`) side by side with this one in the same process, alternating call by call, so both see the
same machine load: the way to show a speed change on a shared box.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from generator.postprocess import StickerOptions, cutout
from generator.postprocess.pipeline import SUBJECT_PRIOR
from generator.postprocess.scenes import fringe_error, pale_scene_set, shadow_kept
from generator.postprocess.synthetic import alpha_iou, sticker_scene

FLAT_SCENES: list[dict] = [
    {"background": (255, 255, 255)},
    {"background": (0, 255, 0), "spill": 0.2},
    {"background": (250, 220, 235)},
    {"background": (90, 160, 220)},
    {"background": (255, 255, 255), "touch_edge": True},
    {"background": (0, 255, 0), "noise": 16.0, "jpeg_quality": 70},
]


def cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []
    )
    wanted = [flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if flag in flags]
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if "model name" in line), "")
    return f"{model} ({', '.join(wanted) or 'no avx2'})"


def _time(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    run()  # warm-up
    cpu, wall = [], []
    for _ in range(repeats):
        c0, t0 = time.thread_time(), time.perf_counter()
        run()
        cpu.append((time.thread_time() - c0) * 1000)
        wall.append((time.perf_counter() - t0) * 1000)
    return statistics.median(cpu), statistics.median(wall)


def machine_load() -> str:
    """UTC time and load average, printed with every measurement (the box is shared)."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    try:
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        load = "unknown"
    return (
        f"{now}; load average {load}; {os.cpu_count()} CPUs; OMP_NUM_THREADS={os.getenv('OMP_NUM_THREADS')}"
    )


def load_postprocess(root: Path) -> object:
    """`generator.postprocess` as the checkout at `root` has it, imported beside this one (its
    modules live only in the returned package; this checkout's stay in sys.modules)."""
    ours = [name for name in sys.modules if name == "generator" or name.startswith("generator.")]
    saved = {name: sys.modules.pop(name) for name in ours}
    sys.path.insert(0, str(root))
    try:
        package = importlib.import_module("generator.postprocess")
    finally:
        sys.path.remove(str(root))
        for name in [name for name in sys.modules if name == "generator" or name.startswith("generator.")]:
            del sys.modules[name]
        sys.modules.update(saved)
    if not Path(str(package.__file__)).resolve().is_relative_to(root.resolve()):
        raise SystemExit(f"{root} has no generator/postprocess package")
    return package


def compare_speed(other_root: Path, repeats: int) -> list[dict]:
    """Default cut-out ms of another checkout vs this one, alternating call by call (same load)."""
    import generator.postprocess as this

    other = load_postprocess(other_root)
    cases = {
        "pale scene (bench image)": [pale_scene_set(seed=18)[0].image],
        "pale scenes (all 16, seed 18)": [scene.image for scene in pale_scene_set(seed=18)],
        "green screen (flat key)": [sticker_scene(seed=1, **FLAT_SCENES[1]).image],
        "white (flat key)": [sticker_scene(seed=0, **FLAT_SCENES[0]).image],
    }
    rows = []
    for name, images in cases.items():
        times: dict[str, list[float]] = {"before": [], "after": []}
        for round_ in range(repeats + 1):
            for image in images:
                for side, package in (("before", other), ("after", this)):
                    options = package.StickerOptions(outline=0)  # type: ignore[attr-defined]
                    started = time.thread_time()
                    package.cutout(image, options)  # type: ignore[attr-defined]
                    if round_:  # the first round warms up
                        times[side].append((time.thread_time() - started) * 1000)
        row = {"case": name, "calls": len(times["after"])}
        for side, values in times.items():
            row[f"{side}_median_ms"] = statistics.median(values)
            row[f"{side}_p25_ms"] = float(np.percentile(values, 25))
        row["ratio"] = row["after_median_ms"] / row["before_median_ms"]
        rows.append(row)
        print(
            f"{name} | {row['before_median_ms']:.1f} ({row['before_p25_ms']:.1f}) | "
            f"{row['after_median_ms']:.1f} ({row['after_p25_ms']:.1f}) | {row['ratio']:.2f}",
            flush=True,
        )
    return rows


def _with_prior(image: Image.Image, alpha: np.ndarray) -> Image.Image:
    coarse = Image.fromarray(alpha, "F").resize((32, 32), Image.Resampling.BOX)
    copy = image.copy()
    copy.info[SUBJECT_PRIOR] = np.asarray(coarse, dtype=np.float32)
    return copy


METHODS: dict[str, tuple[StickerOptions, bool]] = {  # name: (options, with the 32x32 subject prior)
    "flood (default)": (StickerOptions(outline=0), False),
    "flood, single key (before)": (StickerOptions(outline=0, surface=False), False),
    "flood + 32x32 prior": (StickerOptions(outline=0), True),
}


def method_speeds(repeats: int) -> list[tuple[str, float, float]]:
    """(method, pale-scene CPU ms, flat-key CPU ms) per 512² cut-out: the figures `python -m bench` prints."""
    pale = pale_scene_set(seed=18)[0]
    flat = sticker_scene(seed=1, **FLAT_SCENES[1])
    rows = []
    for name, (options, prior) in METHODS.items():
        image = _with_prior(pale.image, pale.alpha) if prior else pale.image
        pale_cpu, _ = _time(lambda image=image, o=options: cutout(image, o), repeats)
        flat_cpu, _ = _time(lambda o=options: cutout(flat.image, o), repeats)
        rows.append((name, pale_cpu, flat_cpu))
    return rows


def score_methods(repeats: int, seeds: tuple[int, ...] = (18,)) -> list[dict]:
    pale = [scene for seed in seeds for scene in pale_scene_set(seed=seed)]
    flat = [sticker_scene(seed=i, **kwargs) for i, kwargs in enumerate(FLAT_SCENES)]
    rows = []
    for name, (options, prior) in METHODS.items():
        ious, fringes, shadows = [], [], []
        for scene in pale:
            image = _with_prior(scene.image, scene.alpha) if prior else scene.image
            rgba = np.asarray(cutout(image, options))
            ious.append(alpha_iou(rgba[..., 3] / 255.0, scene.alpha))
            fringes.append(fringe_error(rgba, scene))
            shadows.append(shadow_kept(rgba, scene))
        flat_ious = [alpha_iou(np.asarray(cutout(s.image, options))[..., 3] / 255.0, s.alpha) for s in flat]
        timed = _with_prior(pale[0].image, pale[0].alpha) if prior else pale[0].image
        pale_cpu, pale_wall = _time(lambda image=timed, o=options: cutout(image, o), repeats)
        flat_cpu, flat_wall = _time(lambda o=options: cutout(flat[1].image, o), repeats)
        rows.append(
            {
                "method": name,
                "pale_mean_iou": float(np.mean(ious)),
                "pale_worst_iou": float(np.min(ious)),
                "pale_halo": float(np.mean(fringes)),
                "pale_shadow_kept": float(np.mean(shadows)),
                "flat_mean_iou": float(np.mean(flat_ious)),
                "flat_worst_iou": float(np.min(flat_ious)),
                "pale_cpu_ms": pale_cpu,
                "pale_wall_ms": pale_wall,
                "flat_cpu_ms": flat_cpu,
                "flat_wall_ms": flat_wall,
                "scenes_below_0.75": int(sum(iou < 0.75 for iou in ious)),
                "per_scene": [[scene.name, round(iou, 4)] for scene, iou in zip(pale, ious, strict=True)],
            }
        )
    rows.append(_segmenter_row(pale[0].image, repeats))
    return rows


def _segmenter_row(image: Image.Image, repeats: int) -> dict:
    from generator.segmenter import build_tiny_segmenter

    with tempfile.TemporaryDirectory() as tmp:
        directory = build_tiny_segmenter(Path(tmp) / "segmenter")
        options = StickerOptions(outline=0, matting=f"segment:{directory}")
        cpu, wall = _time(lambda: cutout(image, options), repeats)
    return {"method": "segment: tiny random SegFormer (speed only)", "pale_cpu_ms": cpu, "pale_wall_ms": wall}


def prior_cost(runs: int) -> dict:
    """Generation with and without the attention recorder on the tiny model at 512x512."""
    import torch

    from bench.fixtures import write_style
    from generator.options import ModelConfig
    from generator.pipeline import StickerPipeline
    from generator.styles import StyleRegistry
    from generator.tiny import build_tiny_pipeline

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        write_style(Path(tmp), "plain")
        pipe = StickerPipeline.from_pipeline(
            build_tiny_pipeline(), StyleRegistry.load(Path(tmp)), ModelConfig(device="cpu", dtype="float32")
        )
    pipe.activate_style("plain")
    assert pipe.attention is not None
    args = (["eating, otter, dm-sticker"], [""], [1], 1, 512, 512)
    on, off, prior = [], [], []
    pipe.run(*args)
    for _ in range(runs):  # alternate, so both sides see the same machine load
        t0 = time.perf_counter()
        pipe.run(*args)
        on.append((time.perf_counter() - t0) * 1000)
        prior.append(pipe.last_prior_ms)
        pipe.attention.uninstall()
        t0 = time.perf_counter()
        pipe.run(*args)
        off.append((time.perf_counter() - t0) * 1000)
        pipe.attention.install()
    return {
        "generate_ms_with_prior": statistics.median(on),
        "generate_ms_without_prior": statistics.median(off),
        "prior_ms_inside_generation": statistics.median(prior),
    }


SHEET_SUBJECTS = ("👻", "🐑", "🦢", "☁️", "⛄", "🐔", "🍳", "🦙")


def make_sheet(path: Path, tile: int = 128) -> Path:
    """Before/after sheet: the generated-looking input, the single-key cut-out, the default one, each
    cut-out over a dark chat-like backdrop (so kept paper, shadow and halo show)."""
    scenes = {scene.name: scene for scene in pale_scene_set()}
    picked = [scenes[name] for name in SHEET_SUBJECTS]
    sheet = Image.new("RGB", (tile * len(picked), tile * 3), (30, 33, 40))
    for column, scene in enumerate(picked):
        before = cutout(scene.image, StickerOptions(outline=0, surface=False))
        after = cutout(scene.image, StickerOptions(outline=0))
        for row, picture in enumerate((scene.image.convert("RGBA"), before, after)):
            backdrop = Image.new("RGBA", picture.size, (54, 57, 63, 255))  # a dark chat theme
            backdrop.alpha_composite(picture)
            small = backdrop.convert("RGB").resize((tile - 6, tile - 6), Image.Resampling.LANCZOS)
            sheet.paste(small, (column * tile + 3, row * tile + 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.quantize(colors=128, dither=Image.Dither.NONE).save(path, optimize=True)  # small for the docs
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cutout", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed cut-outs per method (default 20)")
    parser.add_argument(
        "--prior-runs", type=int, default=5, help="tiny-model generations per side (default 5)"
    )
    parser.add_argument(
        "--out", default="bench-results", help="directory for the JSON (default bench-results/)"
    )
    parser.add_argument(
        "--seeds", default="18", help="pale scene sets by seed, e.g. 18,19,20 (default 18: the test set)"
    )
    parser.add_argument("--sheet", help="write the before/after sheet (PNG) to this path and stop")
    parser.add_argument(
        "--against",
        metavar="DIR",
        help="another checkout: time its default cut-out side by side with this one's and stop",
    )
    args = parser.parse_args(argv)
    if args.sheet:
        print(make_sheet(Path(args.sheet)))
        return 0
    machine = cpu_flags()
    print(f"machine: {machine}; {platform.python_implementation()} {platform.python_version()}", flush=True)
    print(f"when: {machine_load()}", flush=True)
    out = Path(args.out)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    if args.against:
        print(f"\ndefault cut-out, CPU ms per 512² call: median (25th percentile); before = {args.against}")
        print("case | before | after | after/before")
        rows = compare_speed(Path(args.against), args.repeats)
        print(f"after: {machine_load()}")
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"cutout-speed-{stamp}.json"
        path.write_text(json.dumps({"machine": machine, "against": args.against, "rows": rows}, indent=2))
        print(f"figures written to {path}")
        return 0
    seeds = tuple(int(part) for part in args.seeds.split(","))
    print(f"pale scenes: {16 * len(seeds)} (seeds {args.seeds})", flush=True)
    rows = score_methods(args.repeats, seeds)
    print("\nmethod | pale mean IoU | pale worst | halo | shadow kept | flat mean IoU | ms/512² cpu (wall)")
    for row in rows:
        if "pale_mean_iou" in row:
            print(
                f"{row['method']} | {row['pale_mean_iou']:.3f} | {row['pale_worst_iou']:.3f} | "
                f"{row['pale_halo']:.1f} | {row['pale_shadow_kept']:.2f} | {row['flat_mean_iou']:.3f} | "
                f"{row['scenes_below_0.75']} below 0.75 | "
                f"{row['pale_cpu_ms']:.1f} ({row['pale_wall_ms']:.1f}); flat key {row['flat_cpu_ms']:.1f}"
            )
        else:
            print(
                f"{row['method']} | - | - | - | - | - | {row['pale_cpu_ms']:.1f} ({row['pale_wall_ms']:.1f})"
            )
    cost = prior_cost(args.prior_runs)
    print(
        f"\nsubject prior inside generation (tiny model, 512x512, 1 step): "
        f"{cost['prior_ms_inside_generation']:.1f} ms; generation {cost['generate_ms_with_prior']:.0f} ms "
        f"with, {cost['generate_ms_without_prior']:.0f} ms without"
    )
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"cutout-{stamp}.json"
    path.write_text(
        json.dumps({"machine": machine, "methods": rows, "prior": cost}, indent=2), encoding="utf-8"
    )
    print(f"\nfigures written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
