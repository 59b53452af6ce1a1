"""Post-processing speed on one CPU core: a 512x512 green-screen scene through `make_sticker`.

Run `python -m bench.postprocess_stages`; it times each stage, where `python -m bench` times the
whole `make_sticker` call.
"""

from __future__ import annotations

import json
import platform
import statistics
import time

from generator.postprocess.encode import encode_sticker_webp
from generator.postprocess.options import StickerOptions
from generator.postprocess.pipeline import cutout, finish_rgba
from generator.postprocess.synthetic import sticker_scene


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def bench_postprocess(n: int = 50, *, size: int = 512, shadow: bool = False, warmup: int = 3) -> dict:
    """Time cut-out, layout+effects and encoding for `n` runs; returns milliseconds per stage.

    Everything here is single-threaded numpy/Pillow, so the figures are one CPU core's. On a busy
    machine the wall-clock figures include waiting for a core; `cpu_median_ms` does not.
    """
    scene = sticker_scene(size, (0, 255, 0), spill=0.2)
    options = StickerOptions(shadow=shadow)
    stages: dict[str, list[float]] = {"cutout": [], "layout_effects": [], "encode": [], "total": []}
    cpu_total: list[float] = []
    last_bytes = 0
    for i in range(warmup + n):
        c0 = time.thread_time()
        t0 = time.perf_counter()
        rgba = cutout(scene.image, options)
        t1 = time.perf_counter()
        finished = finish_rgba(rgba, options)
        t2 = time.perf_counter()
        data = encode_sticker_webp(finished)
        t3 = time.perf_counter()
        c1 = time.thread_time()
        if i >= warmup:
            stages["cutout"].append((t1 - t0) * 1000)
            stages["layout_effects"].append((t2 - t1) * 1000)
            stages["encode"].append((t3 - t2) * 1000)
            stages["total"].append((t3 - t0) * 1000)
            cpu_total.append((c1 - c0) * 1000)
            last_bytes = len(data)
    return {
        "name": "postprocess",
        "image": f"{size}x{size} green screen, outline 8{', shadow' if shadow else ''}",
        "runs": n,
        "median_ms": round(statistics.median(stages["total"]), 2),
        "p90_ms": round(_percentile(stages["total"], 0.9), 2),
        "cpu_median_ms": round(statistics.median(cpu_total), 2),  # this thread's CPU time: robust to load
        "stages_median_ms": {k: round(statistics.median(v), 2) for k, v in stages.items() if k != "total"},
        "webp_bytes": last_bytes,
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}",
    }


if __name__ == "__main__":
    print(json.dumps(bench_postprocess(), indent=2))
