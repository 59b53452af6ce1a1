"""`python -m bench --backend ray`: the Ray Serve path side by side with the local engine (tiny model).

Figures, all in one run on one local Ray (`ray.init(num_cpus=2)`), one torch thread everywhere so both
sides do the same work:
- the added latency of the Ray path per request: p50 of `RayEngine.generate` minus p50 of the local
  `Engine.generate`, requests alternating between the two (same prompt, style, seed);
- requests/s for a 32-request burst through Ray with 1 and with 2 replicas (and the local engine);
- a style's cold load on a replica (multiplex miss: fusing its LoRA) vs the same style hot.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.fixtures import write_style
from bench.report import Report, median, percentile
from generator.api import GenerationRequest, StickerEngine
from generator.options import EngineConfig, ModelConfig, RayConfig, RayDeploymentConfig

PROMPT = "eating, otter, dm-sticker"
STYLES = ("otter", "lora-a", "lora-b", "lora-c")
APP = "stickerbot-bench"


@dataclass(frozen=True, slots=True)
class RayOptions:
    repeats: int = 30  # sequential requests per side for the latency p50
    burst: int = 32  # requests in a throughput burst
    rounds: int = 3  # bursts per setting (the best counts)
    style_loads: int = 6  # cold and hot style loads


def run_ray_suite(report: Report, options: RayOptions) -> None:
    from generator.serve import require_ray

    require_ray()
    os.environ["OMP_NUM_THREADS"] = "1"  # replicas inherit it; the local engine sets torch below
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a throwaway local cluster
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    import torch
    from ray import serve

    from bench.tiny_suite import _tiny_lora
    from generator.tiny import save_tiny_pipeline

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="stickerbot-bench-ray-") as tmp:
        root = Path(tmp)
        model_dir = save_tiny_pipeline(root / "tiny-model")
        styles_dir = root / "styles"
        write_style(styles_dir, "otter")
        for seed, name in enumerate(STYLES[1:], start=1):
            write_style(
                styles_dir, name, loras=[(_tiny_lora(model_dir, root / f"{name}.safetensors", seed), 1.0)]
            )
        model_cfg = ModelConfig(path=str(model_dir), device="cpu", dtype="float32", local_files_only=True)
        deployment = RayDeploymentConfig(num_cpus=1.0, max_ongoing_requests=64, max_queued_requests=256)
        engine_cfg = EngineConfig(
            styles_dir=str(styles_dir),
            default_style="otter",
            max_wait_ms=15.0,
            queue_size=256,
            timeout_s=600.0,
            hot_styles=2,
            backend="ray",
            ray=RayConfig(address="auto", app=APP, deployment=deployment),
        )
        print("starting a local Ray (2 CPUs) and deploying the tiny model …", flush=True)
        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        try:
            report.add("ray", "ray.init (local, 2 CPUs)", (time.perf_counter() - started), "s")
            started = time.perf_counter()
            _deploy(model_cfg, engine_cfg)
            report.add("ray", "serve.run, 1 replica (loads the model)", time.perf_counter() - started, "s")
            asyncio.run(_measure(report, model_cfg, engine_cfg, options))
        finally:
            serve.shutdown()
            ray.shutdown()


def _deploy(model_cfg: ModelConfig, engine_cfg: EngineConfig) -> None:
    from ray import serve

    from generator.serve.app import build_app

    serve.run(build_app(model_cfg, engine_cfg), name=APP, route_prefix=None)


async def _measure(
    report: Report, model_cfg: ModelConfig, engine_cfg: EngineConfig, opts: RayOptions
) -> None:
    from generator.engine import build_engine
    from generator.serve.client import RayEngine

    local = build_engine(model_cfg, engine_cfg.model_copy(update={"backend": "local", "max_wait_ms": 0.0}))
    remote = RayEngine(model_cfg, engine_cfg)
    await local.start()
    await local.wait_ready()
    await remote.start()
    await remote.wait_connected(120)
    try:
        await _latency(report, local, remote, opts)
        await _cold_hot(report, remote, opts)
        await _throughput(report, local, remote, model_cfg, engine_cfg, opts)
    finally:
        await remote.close()
        await local.close()


async def _latency(report: Report, local: StickerEngine, remote: StickerEngine, opts: RayOptions) -> None:
    print("latency: Ray path vs local engine, one request at a time", flush=True)
    sides: dict[str, list[float]] = {"local": [], "ray": [], "ray_transport": []}
    for i in range(opts.repeats + 3):  # the first three pairs warm both paths
        request = GenerationRequest(prompt=PROMPT, style="otter", seed=i)
        for label, engine in (("local", local), ("ray", remote)):
            started = time.perf_counter()
            result = await engine.generate(request)
            wall = (time.perf_counter() - started) * 1000
            if i >= 3:
                sides[label].append(wall)
                if label == "ray":
                    sides["ray_transport"].append(wall - result.timings_ms["replica_ms"])
    report.raw["latency_ms"] = sides
    note = f"tiny model 512x512, 1 step, 1 thread; p50 of {opts.repeats}, alternating"
    report.add("ray", "local engine.generate p50", median(sides["local"]), "ms", note=note)
    report.add("ray", "RayEngine.generate p50", median(sides["ray"]), "ms", note=note)
    added = median(sides["ray"]) - median(sides["local"])
    report.add("ray", "added latency of the Ray path (p50)", added, "ms", target="<= 15 ms")
    report.add("ray", "RayEngine.generate p95", percentile(sides["ray"], 95), "ms")
    report.add(
        "ray",
        "Ray transport per request (p50)",
        median(sides["ray_transport"]),
        "ms",
        target="<= 15 ms",
        note="client wall time minus time inside the replica's generate (handle, routing, pickling)",
    )


async def _cold_hot(report: Report, remote: StickerEngine, opts: RayOptions) -> None:
    """Cycling through 3 LoRA styles with 2 hot slots misses every time; repeating one style never does."""
    print("style load on the replica: multiplex miss (cold) vs hot", flush=True)
    cold: list[float] = []
    hot: list[float] = []
    cold_load: list[float] = []
    hot_load: list[float] = []
    cycle = STYLES[1:]
    for i in range(opts.style_loads):
        started = time.perf_counter()
        result = await remote.generate(GenerationRequest(prompt=PROMPT, style=cycle[i % len(cycle)], seed=i))
        cold.append((time.perf_counter() - started) * 1000)
        cold_load.append(result.timings_ms["style_load_ms"] + result.timings_ms["switch_ms"])
    for i in range(opts.style_loads + 1):
        started = time.perf_counter()
        result = await remote.generate(GenerationRequest(prompt=PROMPT, style="lora-a", seed=i))
        if i:
            hot.append((time.perf_counter() - started) * 1000)
            hot_load.append(result.timings_ms["style_load_ms"] + result.timings_ms["switch_ms"])
    report.raw["style_load_ms"] = {"cold": cold, "hot": hot, "cold_load": cold_load, "hot_load": hot_load}
    note = f"median of {opts.style_loads}; cold = LoRA fused on a multiplex miss (3 styles, 2 hot slots)"
    report.add("ray", "request, style cold on the replica", median(cold), "ms", note=note)
    report.add("ray", "request, style hot on the replica", median(hot), "ms", note=note)
    report.add(
        "ray", "style load on the replica, cold", median(cold_load), "ms", note="multiplex load + switch"
    )
    report.add(
        "ray", "style load on the replica, hot", median(hot_load), "ms", note="multiplex load + switch"
    )


async def _throughput(
    report: Report,
    local: StickerEngine,
    remote: StickerEngine,
    model_cfg: ModelConfig,
    engine_cfg: EngineConfig,
    opts: RayOptions,
) -> None:
    rates: dict[str, list[float]] = {}
    print(f"throughput: {opts.burst}-request bursts", flush=True)
    rates["local"] = [await _burst(local, opts.burst, 10_000 * (r + 1)) for r in range(opts.rounds)]
    rates["ray, 1 replica"] = [await _burst(remote, opts.burst, 20_000 * (r + 1)) for r in range(opts.rounds)]
    deployment = engine_cfg.ray.deployment.model_copy(update={"num_replicas": 2})
    two = engine_cfg.model_copy(update={"ray": engine_cfg.ray.model_copy(update={"deployment": deployment})})
    await asyncio.to_thread(_deploy, model_cfg, two)
    await _burst(remote, opts.burst, 1)  # reach the new replica once before timing
    rates["ray, 2 replicas"] = [
        await _burst(remote, opts.burst, 30_000 * (r + 1)) for r in range(opts.rounds)
    ]
    report.raw["burst_rps"] = rates
    note = f"{opts.burst} requests at once, best of {opts.rounds}; 1 torch thread per engine/replica"
    for label, values in rates.items():
        report.add("ray", f"requests/s, {opts.burst}-burst, {label}", max(values), "req/s", note=note)
    report.add(
        "ray", "2 replicas / 1 replica", max(rates["ray, 2 replicas"]) / max(rates["ray, 1 replica"]), "x"
    )


async def _burst(engine: StickerEngine, count: int, seed: int) -> float:
    requests = [GenerationRequest(prompt=f"{PROMPT} {i}", style="otter", seed=seed + i) for i in range(count)]
    started = time.perf_counter()
    await asyncio.gather(*(engine.generate(r) for r in requests))
    return count / (time.perf_counter() - started)
