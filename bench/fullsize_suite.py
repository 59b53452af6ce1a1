"""`python -m bench --full-size`: the real SDXL-Turbo architecture with random weights.

Speed does not depend on the weights' values, so this measures production latency without a
download. In one run, side by side:

1. bare diffusers — `StableDiffusionXLPipeline.__call__` with no changes (fp32 on CPU, fp16 on CUDA);
2. the same weights with the engine's settings (bf16 on a CPU with native bf16 / fp16 on CUDA,
   channels_last, fused QKV, SDPA, compile where it pays, tiny autoencoder) behind the real
   `Engine`, end to end: request in → finished transparent WebP out (post-processing included):
   p50/p95 at batch 1 and throughput at several batch sizes;
3. switching between two fused styles, each a rank-64 LoRA on every attention projection.

Full size on a CPU is slow (bare fp32 ≈ 17 s per image), so the CPU defaults are small; the
flags of `python -m bench --help` set the repetitions.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.fixtures import sticker_like_image, write_style
from bench.report import Report, median, peak_rss_mb, percentile
from bench.stages import StageTimer
from generator.api import GenerationRequest
from generator.engine import Engine, sticker_finisher
from generator.options import EngineConfig, ModelConfig

SIZE = 512
PROMPT = "eating, otter, dm-sticker"
LORA_RANK = 64


@dataclass(frozen=True, slots=True)
class FullSizeOptions:
    device: str = "auto"
    latency_runs: int = 5
    batch_sizes: tuple[int, ...] = (1, 4)
    switches: int = 2
    bare_runs: int = 1
    bare: bool = True
    switch: bool = True
    tiny_autoencoder: bool = True
    compile: str = "auto"
    int8: bool = True  # CPU: also run the engine with int8 linears (bench.cpu_int8)
    peer: bool = True  # CPU: the OpenVINO int8 peer (bench.openvino_peer)
    peer_runs: int = 3
    packed_weights: bool = True  # CPU: model.cpu_packed_weights on the engine side
    tiny: bool = False  # --tiny-architecture: the same suite on the tiny test model (quick, peer included)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> FullSizeOptions:
        import torch

        cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
        sizes = args.batch_sizes or ("1,4,8,16" if cuda else "1,4")
        return cls(
            device="cuda" if cuda else "cpu",
            latency_runs=args.latency_runs or (20 if cuda else 5),
            batch_sizes=tuple(int(s) for s in sizes.split(",") if s.strip()),
            switches=args.switches or (6 if cuda else 2),
            bare_runs=5 if cuda else 2,
            bare=not args.no_bare,
            switch=not args.no_switch,
            compile=args.compile,
            int8=not getattr(args, "no_int8", False),
            peer=not getattr(args, "no_peer", False),
            tiny=getattr(args, "tiny_architecture", False),
            packed_weights=not getattr(args, "no_packed_weights", False),
        )


def run_fullsize_suite(report: Report, opts: FullSizeOptions) -> None:
    import torch

    from bench.cpu_int8 import cpu_header, run_int8_and_peer
    from generator.fullsize import build_fullsize_pipeline
    from generator.model import choose_device

    if opts.tiny:
        from generator.tiny import build_tiny_pipeline, build_tiny_unet

        def build_fullsize_pipeline(device, dtype):  # the tiny architecture instead
            return build_tiny_pipeline().to(device=device, dtype=dtype)

    choice = choose_device(ModelConfig(device=opts.device))
    section = f"{'tiny-architecture' if opts.tiny else 'full-size'} {choice.device.type}"
    cpu = None
    if choice.device.type == "cpu":
        unet_config = dict(build_tiny_unet().config) if opts.tiny else None
        cpu, choice = cpu_header(report, section, choice, unet_config)
    report.raw["engine_dtype"] = str(choice.dtype)
    print(f"building the full-size SDXL-Turbo architecture with random weights ({opts.device})", flush=True)
    bare_dtype = torch.float16 if choice.device.type == "cuda" else torch.float32
    started = time.perf_counter()
    pipe = build_fullsize_pipeline(choice.device, bare_dtype if opts.bare else choice.dtype)
    report.add(section, "build random-weight pipeline", time.perf_counter() - started, "s")

    bare_s: float | None = None
    if opts.bare:
        bare_s = _bare(report, section, pipe, bare_dtype, choice.device, opts)

    with tempfile.TemporaryDirectory(prefix="stickerbot-fullsize-") as tmp:
        styles_dir = Path(tmp) / "styles"
        write_style(styles_dir, "plain")
        if opts.switch:
            _write_lora_styles(pipe, Path(tmp), styles_dir)
        if cpu is not None and (opts.int8 or opts.peer) and pipe.unet.dtype == torch.float32:
            run_int8_and_peer(report, section, pipe, styles_dir, opts, cpu, bare_s)
        if choice.int8 or (cpu is not None and choice.dtype == torch.float32):
            report.add(section, "engine bf16", None, "", note=f"not run: auto chose {choice.reason}")
            report.add(section, "peak resident memory", peak_rss_mb(), "MB")
            return
        if pipe.unet.dtype != choice.dtype:
            # a bot loads its weights in the engine's dtype; converting the bare fp32 pipeline in this
            # process left the engine's steps about a quarter slower than a fresh load (measured), so
            # the engine side is built the way the bot has it: the same weights, made in its dtype
            del pipe
            gc.collect()
            started = time.perf_counter()
            pipe = build_fullsize_pipeline(choice.device, choice.dtype)
            note = f"{str(choice.dtype).removeprefix('torch.')}, same seed"
            report.add(section, "build engine-dtype pipeline", time.perf_counter() - started, "s", note=note)
        sticker_pipe = _engine_pipeline(report, section, pipe, choice, styles_dir, opts)
        del pipe
        gc.collect()
        if opts.switch:
            _switch_cost(report, section, sticker_pipe, opts)
        e2e_s = _engine_runs(report, section, sticker_pipe, styles_dir, opts)
    if bare_s is not None:
        report.add(
            section,
            "speed-up: engine sticker vs bare diffusers image",
            bare_s / e2e_s,
            "x",
            target=">= 7 (CPU)" if choice.device.type == "cpu" else "",
        )
    if cpu is not None:
        from bench.cpu_int8 import engine_vs_peer_and_peak

        engine_vs_peer_and_peak(report, section, "bf16", e2e_s, cpu)
    if choice.device.type == "cuda":
        report.add(section, "peak GPU memory", torch.cuda.max_memory_allocated() / 1024**2, "MB")
    report.add(section, "peak resident memory", peak_rss_mb(), "MB")


# --------------------------------------------------------------------------- bare diffusers
def _bare(report: Report, section: str, pipe, dtype, device, opts: FullSizeOptions) -> float:
    import torch

    label = str(dtype).removeprefix("torch.")
    print(f"bare diffusers, {label}, a warm-up run and {opts.bare_runs} timed run(s)", flush=True)
    times = []
    with StageTimer(pipe) as stages:
        for i in range(opts.bare_runs + 1):
            _sync(device)
            started = time.perf_counter()
            pipe(
                prompt=PROMPT,
                num_inference_steps=1,
                guidance_scale=0.0,
                width=SIZE,
                height=SIZE,
                generator=torch.Generator("cpu").manual_seed(i),
            )
            _sync(device)
            times.append(time.perf_counter() - started)
            stages.mark()
    calls = stages.calls()
    times, calls = times[1:], calls[1:]  # the first call pays for kernel selection and allocations
    report.raw["bare_s"] = times
    report.raw["bare_stages_ms"] = calls
    value = median(times)
    report.add(
        section, f"bare diffusers {label}, 512x512, 1 step (image only)", value, "s", note=f"n={len(times)}"
    )
    _stage_rows(report, section, "bare", calls)
    return value


# --------------------------------------------------------------------------- engine settings
def _write_lora_styles(pipe, root: Path, styles_dir: Path) -> None:
    from generator.lora_files import write_random_lora

    for name, seed in (("lora-a", 1), ("lora-b", 2)):
        path = write_random_lora(root / f"{name}.safetensors", pipe.unet, rank=LORA_RANK, seed=seed)
        write_style(styles_dir, name, loras=[(path, 1.0)])


def _engine_pipeline(
    report: Report,
    section: str,
    pipe,
    choice,
    styles_dir: Path,
    opts: FullSizeOptions,
    hot_styles: int = 2,
):
    """The same weights with the engine's settings, wrapped in `StickerPipeline` (LoRAs read first)."""
    from diffusers import AutoencoderTiny

    from generator.fullsize import TINY_AUTOENCODER_CONFIG
    from generator.pipeline import StickerPipeline
    from generator.styles import StyleRegistry

    print("engine settings: converting, reading LoRAs, applying speed-ups", flush=True)
    started = time.perf_counter()
    pipe.to(device=choice.device, dtype=choice.dtype)
    if opts.tiny_autoencoder and not isinstance(pipe.vae, AutoencoderTiny):
        tiny = AutoencoderTiny(**TINY_AUTOENCODER_CONFIG)  # taesdxl architecture, 2 x 1.2 M parameters
        pipe.vae = tiny.to(device=choice.device, dtype=choice.dtype)
    model_cfg = ModelConfig(
        device=choice.device.type,
        dtype=str(choice.dtype).removeprefix("torch."),
        compile=opts.compile,
        cpu_packed_weights=opts.packed_weights,
    )
    sticker_pipe = StickerPipeline.from_pipeline(
        pipe, StyleRegistry.load(styles_dir), model_cfg, choice, hot_styles=hot_styles
    )
    if sticker_pipe.unavailable:
        raise RuntimeError(f"benchmark styles unavailable: {sticker_pipe.unavailable}")
    settings = ", ".join([choice.precision, *(s for s in sticker_pipe.speedups if s != "int8")])
    if opts.tiny_autoencoder:
        settings += ", tiny autoencoder"
    report.raw["engine_settings"] = settings
    elapsed = time.perf_counter() - started
    report.add(section, "prepare engine pipeline (convert, LoRAs, speed-ups)", elapsed, "s", note=settings)
    return sticker_pipe


def _switch_cost(report: Report, section: str, sticker_pipe, opts: FullSizeOptions) -> None:
    """Activate the two rank-64 LoRA styles in turn: first fusion (cold) and switching back and forth."""
    print(f"style switching: two rank-{LORA_RANK} LoRA styles, {opts.switches} switches", flush=True)
    cold = [sticker_pipe.activate_style("lora-a"), sticker_pipe.activate_style("lora-b")]
    warm = []
    for i in range(opts.switches):
        warm.append(sticker_pipe.activate_style(("lora-a", "lora-b")[i % 2]))
    to_plain = sticker_pipe.activate_style("plain")
    report.raw["switch_ms"] = {"cold": cold, "warm": warm, "to_plain": to_plain}
    report.add(section, f"style switch, rank-{LORA_RANK} LoRAs, first fusion", median(cold), "ms")
    report.add(
        section,
        "style switch between two hot fused styles",
        median(warm),
        "ms",
        "<= 50 (H100)",
        f"n={len(warm)}",
    )
    report.add(section, "style switch back to the base weights", to_plain, "ms")


# --------------------------------------------------------------------------- the engine, end to end
def _engine_runs(
    report: Report, section: str, sticker_pipe, styles_dir: Path, opts: FullSizeOptions
) -> float:
    from generator.styles import StyleRegistry

    summaries = StyleRegistry.load(styles_dir).summaries()

    def engine(max_batch: int, warmup: bool) -> Engine:
        config = EngineConfig(max_batch_size=max_batch, max_wait_ms=5.0, queue_size=256, timeout_s=3600)
        return Engine(
            lambda: sticker_pipe, summaries, config, finisher=_representative_finisher(), warmup=warmup
        )

    def request(i: int, prompt_of: int | None = None) -> GenerationRequest:
        prompt = f"{PROMPT} {i if prompt_of is None else prompt_of}"
        return GenerationRequest(prompt=prompt, style="plain", seed=i, width=SIZE, height=SIZE)

    async def latency() -> tuple[list[dict[str, float]], list[float]]:
        eng = engine(1, warmup=True)
        await eng.start()
        await eng.wait_ready()
        try:
            await eng.generate(request(999))
            timings = []
            with StageTimer(sticker_pipe.pipe) as stages:
                for i in range(opts.latency_runs):
                    started = time.perf_counter()
                    result = await eng.generate(request(i))
                    wall_ms = (time.perf_counter() - started) * 1000
                    timings.append({**result.timings_ms, **stages.mark(), "wall_ms": wall_ms})
            rerolls = []  # the first request's prompt again with new seeds: cached prompt embeddings
            for i in range(max(1, opts.latency_runs // 2)):
                started = time.perf_counter()
                await eng.generate(request(500 + i, prompt_of=0))
                rerolls.append((time.perf_counter() - started) * 1000)
            return timings, rerolls
        finally:
            await eng.close()

    print(f"engine latency at batch 1: {opts.latency_runs} sequential requests + rerolls", flush=True)
    timings, rerolls = asyncio.run(latency())
    report.raw["engine_reroll_ms"] = rerolls
    walls = [t["wall_ms"] for t in timings]
    report.raw["engine_latency_ms"] = timings
    p50 = percentile(walls, 50)
    target = "<= 2,500 ms (CPU)" if sticker_pipe.device.type == "cpu" else "<= 60 ms (H100)"
    report.add(
        section, "engine p50, batch 1, finished sticker", p50, "ms", target=target, note=f"n={len(walls)}"
    )
    report.add(section, "engine p95, batch 1, finished sticker", percentile(walls, 95), "ms")
    report.add(
        section,
        "engine p50, reroll (same prompt, new seed)",
        percentile(rerolls, 50),
        "ms",
        note=f"n={len(rerolls)}, prompt cache {'on' if sticker_pipe.prompt_cache.capacity else 'off'}",
    )
    report.add(section, "engine: pipeline call (p50)", median([t["generate_ms"] for t in timings]), "ms")
    _stage_rows(report, section, "engine", timings)
    report.add(section, "engine: post-processing (p50)", median([t["postprocess_ms"] for t in timings]), "ms")

    async def throughput(batch: int) -> float:
        eng = engine(batch, warmup=False)
        await eng.start()
        await eng.wait_ready()
        try:
            await asyncio.gather(
                *(eng.generate(request(10_000 + i)) for i in range(batch))
            )  # warm this shape
            total = batch * (1 if sticker_pipe.device.type == "cpu" else 4)
            started = time.perf_counter()
            await asyncio.gather(*(eng.generate(request(20_000 + i)) for i in range(total)))
            return total / (time.perf_counter() - started)
        finally:
            await eng.close()

    rates = {}
    for batch in opts.batch_sizes:
        print(f"engine throughput at batch {batch}", flush=True)
        rates[batch] = asyncio.run(throughput(batch))
        target = (
            ">= 40 /s (H100)" if batch == max(opts.batch_sizes) and sticker_pipe.device.type == "cuda" else ""
        )
        report.add(
            section, f"engine throughput, batch {batch}, finished stickers", rates[batch], "/s", target=target
        )
    report.raw["throughput_per_s"] = rates
    return p50 / 1000


def _stage_rows(report: Report, section: str, who: str, calls: list[dict[str, float]]) -> None:
    names = {"prompt": "prompt encoding", "unet": "UNet (1 step)", "decode": "decode"}
    for stage, name in names.items():
        report.add(section, f"{who}: {name}", median([c[stage] for c in calls]), "ms")


def _representative_finisher():
    """Random weights draw no subject (a flat image that matting rightly rejects), so each generated
    image is swapped for a sticker-like one of the same size before the real post-processing runs:
    the pipeline work and the post-processing work are both the production ones."""
    finish = sticker_finisher({})

    def finisher(image, style, request):
        return finish(sticker_like_image(request.seed, image.width), style, request)

    return finisher


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()
