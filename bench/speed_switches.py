"""Measure the model speed switches one by one: `python -m bench.speed_switches [--full-size]`.

The UNet step is timed with the switches added cumulatively (classic attention → SDPA → fused QKV →
channels_last), then the decoder is timed as the full AutoencoderKL and as the tiny autoencoder.
Speed does not depend on weight values, so the random-weight architectures measure real latency.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from diffusers import AutoencoderKL, AutoencoderTiny, UNet2DConditionModel
from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

from generator.model import DTYPES, choose_device
from generator.options import ModelConfig


def _time(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def build_models(full_size: bool, device: torch.device, dtype: torch.dtype):
    if full_size:
        from generator.fullsize import TINY_AUTOENCODER_CONFIG, UNET_CONFIG, VAE_CONFIG, materialise

        with torch.device("meta"):
            unet = UNet2DConditionModel(**UNET_CONFIG)  # type: ignore[arg-type]
            vae = AutoencoderKL(**VAE_CONFIG)  # type: ignore[arg-type]
            tiny = AutoencoderTiny(**TINY_AUTOENCODER_CONFIG)  # type: ignore[arg-type]
        for seed, model in enumerate((unet, vae, tiny)):
            materialise(model, device, dtype, seed)
        return unet, vae, tiny, 2048, 1280
    from generator.tiny import build_tiny_autoencoder, build_tiny_unet, build_tiny_vae

    models = [build_tiny_unet(), build_tiny_vae(), build_tiny_autoencoder()]
    unet, vae, tiny = (m.to(device=device, dtype=dtype).eval() for m in models)
    return unet, vae, tiny, 64, 32


@torch.inference_mode()
def measure(full_size: bool, device: torch.device, dtype: torch.dtype, batch: int, repeats: int) -> dict:
    unet, vae, tiny, cross_dim, pooled_dim = build_models(full_size, device, dtype)
    latents = torch.randn(batch, 4, 64, 64, device=device, dtype=dtype)
    context = torch.randn(batch, 77, cross_dim, device=device, dtype=dtype)
    added = {
        "text_embeds": torch.randn(batch, pooled_dim, device=device, dtype=dtype),
        "time_ids": torch.tensor([[512, 512, 0, 0, 512, 512]] * batch, device=device, dtype=dtype),
    }
    timestep = torch.tensor(999, device=device)

    def step() -> object:
        return unet(latents, timestep, encoder_hidden_states=context, added_cond_kwargs=added).sample

    rows: dict[str, float] = {}
    unet.set_attn_processor(AttnProcessor())
    rows["unet: classic attention"] = _time(step, device, repeats)
    unet.set_attn_processor(AttnProcessor2_0())
    rows["unet: + sdpa"] = _time(step, device, repeats)
    unet.fuse_qkv_projections()
    rows["unet: + fuse_qkv"] = _time(step, device, repeats)
    unet.to(memory_format=torch.channels_last)
    rows["unet: + channels_last"] = _time(step, device, repeats)
    one = latents[:1]
    rows["decode: AutoencoderKL"] = _time(lambda: vae.decode(one).sample, device, repeats)
    vae.to(memory_format=torch.channels_last)
    rows["decode: AutoencoderKL + channels_last"] = _time(lambda: vae.decode(one).sample, device, repeats)
    rows["decode: tiny autoencoder"] = _time(lambda: tiny.decode(one).sample, device, repeats)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.speed_switches", description=__doc__)
    parser.add_argument("--full-size", action="store_true", help="SDXL-Turbo's architecture (random weights)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    choice = choose_device(ModelConfig(device=args.device, dtype=args.dtype))
    dtype = DTYPES.get(args.dtype, choice.dtype)
    rows = measure(args.full_size, choice.device, dtype, args.batch, args.repeats)
    model = "full-size" if args.full_size else "tiny"
    print(f"{model} model, {choice.device} {dtype}, batch {args.batch}, 512x512 (64x64 latents), median ms")
    for name, value in rows.items():
        print(f"{name:<40} {value:>10.1f}")
    if args.json:
        payload = {"model": model, "device": str(choice.device), "dtype": str(dtype), "ms": rows}
        Path(args.json).write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
