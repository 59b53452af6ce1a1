"""The CPU half of `python -m bench --full-size`: CPU flags and date, the engine with int8 linears,
the OpenVINO int8 peer (bench.openvino_peer), engine ÷ peer and the UNet step's share of the CPU's peak.

Runs on the bare pipeline's fp32 weights (int8 layers share them), before the bf16 engine converts
them, so every figure comes from the same weights in the same process.
"""

from __future__ import annotations

import datetime as dt
import gc
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.cpu_limits import describe_cpu, effective_flags, peak_gflops, unet_step_flops
from bench.report import Report, median, peak_rss_mb

PROMPT = "eating, otter, dm-sticker"
SIZE = 512


def cpu_header(
    report: Report, section: str, choice, unet_config: dict | None = None
) -> tuple[dict[str, Any], Any]:
    """Print the CPU flags and date; return the CPU description and the engine's auto choice for it."""
    from generator.cpu_probe import probe_linear_speeds
    from generator.int8 import int8_kernels_available
    from generator.model import DeviceChoice, choose_cpu_precision

    cpu = describe_cpu()
    flags = effective_flags()
    dtype, int8, reason = choose_cpu_precision(
        "auto", flags, int8_kernels_available(), probe=probe_linear_speeds
    )
    total, linear = unet_step_flops(1, SIZE, unet_config)
    cpu.update(
        unet_gflop=total / 1e9, unet_linear_gflop=linear / 1e9, date=dt.datetime.now(dt.UTC).isoformat()
    )
    report.raw["cpu"] = cpu
    print(
        f"CPU: {cpu['model']}, {cpu['cores']} cores, {cpu['mhz']:.0f} MHz; flags {' '.join(cpu['flags'])}"
        f" ({cpu['class']}); {cpu['date'][:16]} UTC",
        flush=True,
    )
    report.add(section, "CPU", None, "", note=f"{cpu['class']}; flags: {' '.join(cpu['flags']) or '-'}")
    report.add(section, "date (UTC)", None, "", note=str(cpu["date"])[:16])
    report.add(section, "engine precision (auto)", None, "", note=reason)
    report.add(
        section,
        "UNet step FLOPs (512x512, batch 1)",
        total / 1e9,
        "GFLOP",
        note=f"linear {linear / total:.0%}",
    )
    return cpu, DeviceChoice(choice.device, dtype, reason, int8=int8)


def run_int8_and_peer(
    report: Report, section: str, pipe, styles_dir: Path, opts, cpu: dict[str, Any], bare_s: float | None
) -> None:
    from generator.int8 import int8_kernels_available
    from generator.onednn import unpack_onednn
    from generator.packing import restore_plain_layers

    if opts.peer:  # first, so the int8 engine's figures can be set against it
        _peer(report, section, pipe, opts)
    if opts.int8 and int8_kernels_available():
        sticker_pipe = _int8_engine(report, section, pipe, styles_dir, opts, cpu, bare_s)
        for model in (pipe.unet, pipe.vae, pipe.text_encoder, pipe.text_encoder_2):
            unpack_onednn(model)  # GEGLUs too
            restore_plain_layers(model)  # int8 linears and oneDNN layers, packed copies freed
        del sticker_pipe
        gc.collect()
    elif opts.int8:
        report.add(section, "engine int8", None, "", note="not run: this PyTorch has no x86 int8 kernels")


def _int8_engine(report, section, pipe, styles_dir, opts, cpu, bare_s):
    import numpy as np
    import torch

    from bench.fullsize_suite import _engine_pipeline, _engine_runs, _switch_cost
    from generator.int8 import fp32_reference
    from generator.model import DeviceChoice

    sub = f"{section} int8"
    choice = DeviceChoice(torch.device("cpu"), torch.float32, "bench: int8 linears", int8=True)
    # hot_styles 0: kept fp32 copies of 955 M LoRA-touched parameters would not fit a shared 24 GB box
    sticker_pipe = _engine_pipeline(report, sub, pipe, choice, styles_dir, opts, hot_styles=0)
    sticker_pipe.activate_style("plain")

    print("int8 vs fp32, same seed (full-size random weights, tiny autoencoder)", flush=True)
    args = ([PROMPT], [""], [1], 1, SIZE, SIZE)
    int8_image = np.asarray(sticker_pipe.run(*args)[0].convert("RGB"), dtype=np.float64)
    with fp32_reference():
        fp32_image = np.asarray(sticker_pipe.run(*args)[0].convert("RGB"), dtype=np.float64)
    mse = float(np.mean((int8_image - fp32_image) ** 2))
    psnr = math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
    report.add(sub, "PSNR int8 vs fp32, same seed", psnr, "dB", note="random weights: no subject drawn")

    if opts.switch:
        _switch_cost(report, sub, sticker_pipe, opts)
    e2e_s = _engine_runs(report, sub, sticker_pipe, styles_dir, replace(opts, batch_sizes=(1,)))
    report.raw["engine_int8_latency_ms"] = report.raw.get("engine_latency_ms")
    report.raw["engine_int8_s"] = e2e_s
    if bare_s is not None:
        report.add(sub, "speed-up: engine int8 sticker vs bare diffusers image", bare_s / e2e_s, "x", ">= 7")
    engine_vs_peer_and_peak(report, sub, "int8", e2e_s, cpu)
    return sticker_pipe


def _peer(report: Report, section: str, pipe, opts) -> None:
    from bench.openvino_peer import PeerUnavailable, build_peer

    sub = f"{section} peer"
    print(
        "peer: OpenVINO SDXL-Turbo, int8 weights, tiny autoencoder (converting the same weights)", flush=True
    )
    available_gb = _available_gb()
    needed_gb = 8.0 if sum(p.numel() for p in pipe.unet.parameters()) > 1e9 else 1.0  # full size / tiny
    if available_gb < needed_gb:
        report.add(sub, "peer", None, "", note=f"not run: only {available_gb:.1f} GB of memory available")
        return
    started = time.perf_counter()
    try:
        peer = build_peer(pipe, _tiny_autoencoder(), size=SIZE, threads=cpu_threads())
        report.add(
            sub, "peer: convert + int8 weight compression + compile", time.perf_counter() - started, "s"
        )
        peer(PROMPT, 999, SIZE)  # first call: OpenVINO's own warm-up
        times = []
        for i in range(opts.peer_runs):
            t0 = time.perf_counter()
            peer(f"{PROMPT} {i}", i, SIZE)
            times.append(time.perf_counter() - t0)
    except PeerUnavailable as exc:
        report.add(sub, "peer", None, "", note=str(exc))
        return
    except RuntimeError as exc:  # OpenVINO refusing this CPU (e.g. under the AVX2 emulation)
        report.add(sub, "peer", None, "", note=f"OpenVINO failed here: {str(exc).splitlines()[0][:120]}")
        return
    report.raw["peer_s"] = times
    report.raw["peer_stages_ms"] = peer.stages_ms
    report.add(
        sub, "peer: image, 512x512, 1 step (p50)", median(times), "s", note=f"n={len(times)}, {peer.weights}"
    )
    for stage in ("prompt", "unet", "decode"):
        report.add(sub, f"peer: {stage}", median(peer.stages_ms[stage][1:]), "ms")
    del peer
    gc.collect()
    report.add(sub, "peak resident memory so far", peak_rss_mb(), "MB")


def _tiny_autoencoder():
    import torch
    from diffusers import AutoencoderTiny

    from generator.fullsize import TINY_AUTOENCODER_CONFIG, materialise

    with torch.device("meta"):
        tiny = AutoencoderTiny(**TINY_AUTOENCODER_CONFIG)  # type: ignore[arg-type]
    return materialise(tiny, torch.device("cpu"), torch.float32, seed=7)


def _available_gb() -> float:
    from generator.model import available_memory_bytes

    available = available_memory_bytes()
    return float("inf") if available is None else available / 1024**3


def cpu_threads() -> int:
    import torch

    return torch.get_num_threads()


def engine_vs_peer_and_peak(
    report: Report, section: str, precision: str, e2e_s: float, cpu: dict[str, Any]
) -> None:
    """engine ÷ peer (when the peer ran) and the UNet step's GFLOP/s against the CPU's peak."""
    peer = report.raw.get("peer_s")
    if isinstance(peer, list) and peer:
        report.add(section, f"engine {precision} sticker ÷ peer image", e2e_s / median(peer), "", "<= 1.0")
    latency = report.raw.get("engine_latency_ms")
    if not isinstance(latency, list) or not latency:
        return
    unet_ms = median([t["unet"] for t in latency])
    achieved = float(cpu["unet_gflop"]) / (unet_ms / 1000)
    flags = set(cpu["flags"])
    cores, mhz = int(cpu["cores"]), float(cpu["mhz"])
    peak = peak_gflops(flags, precision, cores, mhz)
    fp32_peak = peak_gflops(flags, "fp32", cores, mhz)
    note = f"peak {peak:.0f} GFLOP/s ({precision}), {fp32_peak:.0f} (fp32); {cores} cores at {mhz:.0f} MHz"
    report.add(section, f"UNet step {precision}: achieved", achieved, "GFLOP/s", note=note)
    if peak:
        report.add(section, f"UNet step {precision}: % of {precision} peak", 100 * achieved / peak, "%")
    report.add(section, f"UNet step {precision}: % of fp32 peak", 100 * achieved / fp32_peak, "%")
