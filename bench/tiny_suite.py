"""The CPU benchmark on the tiny random-weight model (`python -m bench`).

Figures: the engine's latency over a bare diffusers call for the same work, requests/s for 16
concurrent requests with micro-batching on and off, post-processing per 512x512 image, style
switch cost, the bot round trip through the Telegram adapter (when its fake Bot API exists), and
peak memory.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.fixtures import sticker_like_image, write_style
from bench.report import Report, median, peak_rss_mb
from generator.api import GenerationRequest
from generator.engine import OUTLINE_PX, Engine, build_engine
from generator.options import EngineConfig, ModelConfig

SIZE = 512
PROMPT = "eating, otter, dm-sticker"
STYLE = "otter"  # prompt-only; the bot's default style name, so the Telegram round trip finds it


@dataclass(frozen=True, slots=True)
class TinyOptions:
    repeats: int = 20  # sequential single requests per side of the latency comparison
    concurrent: int = 16  # requests in the throughput burst
    rounds: int = 5  # bursts per batching mode, alternating (the best burst counts)
    postprocess_images: int = 20


def run_tiny_suite(report: Report, options: TinyOptions) -> None:
    from generator.tiny import save_tiny_pipeline

    with tempfile.TemporaryDirectory(prefix="stickerbot-bench-") as tmp:
        root = Path(tmp)
        model_dir = save_tiny_pipeline(root / "tiny-model")
        styles_dir = root / "styles"
        write_style(styles_dir, STYLE)
        for name, seed in (("lora-a", 1), ("lora-b", 2)):
            write_style(
                styles_dir, name, loras=[(_tiny_lora(model_dir, root / f"{name}.safetensors", seed), 1.0)]
            )
        model_cfg = ModelConfig(path=str(model_dir), local_files_only=True, warmup=True)
        engine_cfg = EngineConfig(styles_dir=str(styles_dir), default_style=STYLE)
        _latency_ratio(report, model_cfg, engine_cfg, options)
        _batching_throughput(report, model_cfg, engine_cfg, options)
        _style_switch(report, model_cfg, engine_cfg)
        _telegram_roundtrip(report, model_cfg, engine_cfg)
    _postprocess(report, options)
    report.add("memory", "peak resident memory (whole run)", peak_rss_mb(), "MB")


def _tiny_lora(model_dir: Path, path: Path, seed: int) -> Path:
    """A rank-8 random LoRA on every attention projection of the tiny UNet."""
    from diffusers import UNet2DConditionModel

    from generator.lora_files import write_random_lora

    unet = UNet2DConditionModel.from_pretrained(
        model_dir, subfolder="unet", use_safetensors=True, local_files_only=True
    )
    return write_random_lora(path, unet, rank=8, seed=seed)


# --------------------------------------------------------------------------- engine vs bare diffusers
def _bare_pipeline(model_cfg: ModelConfig):
    """Plain `StableDiffusionXLPipeline.from_pretrained` in the dtype the engine chose, nothing else."""
    from diffusers import StableDiffusionXLPipeline

    from generator.model import choose_device

    choice = choose_device(model_cfg)
    pipe = StableDiffusionXLPipeline.from_pretrained(
        model_cfg.path, dtype=choice.dtype, use_safetensors=True, local_files_only=True
    ).to(choice.device)
    pipe.set_progress_bar_config(disable=True)
    return pipe, choice


def _bare_call(pipe, seed: int):
    import torch

    generator = torch.Generator("cpu").manual_seed(seed)
    return pipe(
        prompt=PROMPT,
        num_inference_steps=1,
        guidance_scale=0.0,
        width=SIZE,
        height=SIZE,
        generator=generator,
    ).images[0]


def _sticker_options():
    from generator.postprocess import StickerOptions

    return StickerOptions(background=(255, 255, 255), outline=OUTLINE_PX)


def _latency_ratio(
    report: Report, model_cfg: ModelConfig, engine_cfg: EngineConfig, opts: TinyOptions
) -> None:
    from generator.postprocess import make_sticker

    print("latency: engine vs bare diffusers (tiny model, 512x512, 1 step)", flush=True)
    pipe, choice = _bare_pipeline(model_cfg)
    sticker_options = _sticker_options()
    engine = build_engine(model_cfg, engine_cfg)
    bare_call_ms: list[float] = []
    bare_total_ms: list[float] = []
    engine_ms: list[float] = []
    engine_generate_ms: list[float] = []
    engine_overhead_ms: list[float] = []

    async def measure() -> None:
        await engine.start()
        await engine.wait_ready()
        try:
            for i in range(opts.repeats + 2):  # the first two of each side are warm-up
                started = time.perf_counter()
                image = _bare_call(pipe, i)
                called = time.perf_counter()
                make_sticker(image, sticker_options)
                done = time.perf_counter()
                request = GenerationRequest(prompt=PROMPT, style=STYLE, seed=i, width=SIZE, height=SIZE)
                started_engine = time.perf_counter()
                result = await engine.generate(request)
                finished_engine = time.perf_counter()
                if i >= 2:
                    bare_call_ms.append((called - started) * 1000)
                    bare_total_ms.append((done - started) * 1000)
                    engine_ms.append((finished_engine - started_engine) * 1000)
                    engine_generate_ms.append(result.timings_ms["generate_ms"])
                    t = result.timings_ms
                    work = t["switch_ms"] + t["generate_ms"] + t["postprocess_ms"]
                    engine_overhead_ms.append((finished_engine - started_engine) * 1000 - work)
        finally:
            await engine.close()

    asyncio.run(measure())
    report.raw["latency"] = {
        "device": str(choice.device),
        "dtype": str(choice.dtype),
        "bare_call_ms": bare_call_ms,
        "bare_call_plus_postprocess_ms": bare_total_ms,
        "engine_ms": engine_ms,
        "engine_pipeline_call_ms": engine_generate_ms,
        "engine_overhead_ms": engine_overhead_ms,
    }
    note = f"{choice.device} {str(choice.dtype).removeprefix('torch.')}, median of {opts.repeats}"
    report.add("tiny", "bare diffusers call + make_sticker", median(bare_total_ms), "ms", note=note)
    report.add("tiny", "engine.generate (same work)", median(engine_ms), "ms", note=note)
    report.add(
        "tiny",
        "engine latency / bare diffusers (same work)",
        median(engine_ms) / median(bare_total_ms),
        "x",
        target="<= 1.10",
    )
    report.add(
        "tiny",
        "engine pipeline call / bare diffusers call",
        median(engine_generate_ms) / median(bare_call_ms),
        "x",
        note="generation only; the engine's pipeline has the speed switches on",
    )
    report.add(
        "tiny",
        "engine overhead per request (queue, threads)",
        median(engine_overhead_ms),
        "ms",
        note="wall time minus pipeline call and post-processing",
    )


# --------------------------------------------------------------------------- micro-batching
def _batching_throughput(
    report: Report, model_cfg: ModelConfig, engine_cfg: EngineConfig, opts: TinyOptions
) -> None:
    """Bursts of concurrent requests, alternating between an engine with and one without batching,
    so a change in machine load hits both sides alike; the best burst of each side counts."""
    print(f"throughput: {opts.concurrent} concurrent requests, micro-batching on vs off", flush=True)
    queue = max(engine_cfg.queue_size, opts.concurrent)
    engines = {
        "on": build_engine(model_cfg, engine_cfg.model_copy(update={"queue_size": queue})),
        "off": build_engine(
            model_cfg, engine_cfg.model_copy(update={"queue_size": queue, "max_batch_size": 1})
        ),
    }
    rates = asyncio.run(_alternating_bursts(engines, opts))
    report.raw["throughput_rps"] = rates
    best = {label: max(values) for label, values in rates.items()}
    report.add(
        "tiny",
        f"requests/s, {opts.concurrent} concurrent, batching on",
        best["on"],
        "req/s",
        note=f"max_batch_size {engine_cfg.max_batch_size}, max_wait_ms {engine_cfg.max_wait_ms:g}; "
        f"best of {opts.rounds}",
    )
    report.add("tiny", f"requests/s, {opts.concurrent} concurrent, batching off", best["off"], "req/s")
    report.add("tiny", "micro-batching throughput gain", best["on"] / best["off"], "x")


async def _alternating_bursts(engines: dict[str, Engine], opts: TinyOptions) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {label: [] for label in engines}
    try:
        for engine in engines.values():  # one after the other: from_pretrained is not thread-safe
            await engine.start()
            await engine.wait_ready()
            await _burst(engine, opts.concurrent, seed=0)  # warm this path
        for round_ in range(opts.rounds):
            for label, engine in engines.items():
                started = time.perf_counter()
                await _burst(engine, opts.concurrent, seed=1000 * (round_ + 1))
                rates[label].append(opts.concurrent / (time.perf_counter() - started))
    finally:
        for engine in engines.values():
            await engine.close()
    return rates


async def _burst(engine: Engine, count: int, seed: int) -> None:
    requests = [
        GenerationRequest(prompt=f"{PROMPT} {i}", style=STYLE, seed=seed + i, width=SIZE, height=SIZE)
        for i in range(count)
    ]
    await asyncio.gather(*(engine.generate(r) for r in requests))


# --------------------------------------------------------------------------- style switching
def _style_switch(report: Report, model_cfg: ModelConfig, engine_cfg: EngineConfig) -> None:
    """Alternating two LoRA styles on the tiny model, measured by the engine (fuse cost on tiny layers).

    Full-size LoRA fusion (rank 64 on all attention projections) is measured in `--full-size` mode.
    """

    async def alternate() -> list[float]:
        engine = build_engine(model_cfg, engine_cfg)
        await engine.start()
        try:
            for i in range(10):
                style = ("lora-a", "lora-b")[i % 2]
                await engine.generate(
                    GenerationRequest(prompt=PROMPT, style=style, seed=i, width=SIZE, height=SIZE)
                )
            return list(engine.stats().switch_ms)
        finally:
            await engine.close()

    switches = asyncio.run(alternate())
    report.raw["tiny_switch_ms"] = switches
    report.add(
        "tiny",
        "style switch, two LoRA styles (tiny UNet)",
        median(switches[2:]),
        "ms",
        note=f"first fusions {switches[0]:.1f}/{switches[1]:.1f} ms; full-size: --full-size",
    )


# --------------------------------------------------------------------------- post-processing
def _postprocess(report: Report, opts: TinyOptions) -> None:
    from generator.postprocess import make_sticker

    print("post-processing: make_sticker per 512x512 image", flush=True)
    options = _sticker_options()
    images = [sticker_like_image(seed) for seed in range(opts.postprocess_images)]
    make_sticker(images[0], options)
    times = []
    sizes = []
    for image in images:
        started = time.perf_counter()
        data = make_sticker(image, options)
        times.append((time.perf_counter() - started) * 1000)
        sizes.append(len(data))
    report.raw["postprocess_ms"] = times
    report.add(
        "postprocess",
        "make_sticker median per 512x512 image",
        median(times),
        "ms",
        note=f"flood matting + {OUTLINE_PX}px outline + WebP, median size {median(sizes) / 1000:.0f} kB",
    )
    from bench.cutout import method_speeds

    for method, pale_ms, flat_ms in method_speeds(repeats=7):
        target = "<= 40" if method.endswith("(default)") else ""
        report.add("cutout", f"{method}: pale scene, CPU ms per 512²", pale_ms, "ms", target)
        report.add("cutout", f"{method}: flat key, CPU ms per 512²", flat_ms, "ms", target)


# --------------------------------------------------------------------------- bot round trip
def _telegram_roundtrip(report: Report, model_cfg: ModelConfig, engine_cfg: EngineConfig) -> None:
    from bench.roundtrip import RoundTripUnavailable, measure_telegram_roundtrip

    print("bot round trip: Telegram adapter against the fake Bot API", flush=True)
    try:
        overhead = measure_telegram_roundtrip(build_engine(model_cfg, engine_cfg))
    except RoundTripUnavailable as exc:
        report.add("bot", "Telegram round trip minus generation", None, "ms", note=f"not measured: {exc}")
        return
    report.raw["telegram_roundtrip_overhead_ms"] = overhead
    report.add(
        "bot",
        "Telegram round trip minus generation (median)",
        median(overhead),
        "ms",
        note=f"/sticker in → sendSticker out, real PTB + service, n={len(overhead)}",
    )
