"""The user's CPU alternative, FastSD-CPU style: SDXL-Turbo through OpenVINO with int8 weights.

Built from the very same torch modules (same random weights): both CLIP text encoders and the UNet
converted with `openvino.convert_model`, their weights compressed to int8 with NNCF
(`nncf.compress_weights`, what FastSD CPU's published int8 models use), and the tiny autoencoder's
decoder. One call = what `OVStableDiffusionXLPipeline` does for 1 step without guidance: tokenize,
two encoders, one UNet step, one Euler step, decode, to a PIL image (no cut-out, outline or WebP).

`optimum-intel` itself is not used: its current release pulls another PyTorch (2.14) and an older
transformers than this project pins, so the same graph is built from its parts here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

OPENVINO_MISSING = "OpenVINO is not installed: pip install 'stickerbot[openvino]'"


class PeerUnavailable(RuntimeError):
    """The peer cannot run here (missing extra, or OpenVINO refused this CPU); one line."""


def require_openvino() -> tuple[Any, Any]:
    try:
        import nncf
        import openvino
    except ImportError as exc:
        raise PeerUnavailable(OPENVINO_MISSING) from exc
    return openvino, nncf


@dataclass
class OpenVinoPeer:
    text_encoder: Any
    text_encoder_2: Any
    unet: Any
    decoder: Any
    tokenizers: tuple[Any, Any]
    scheduler: Any
    weights: str
    stages_ms: dict[str, list[float]] = field(default_factory=dict)

    def __call__(self, prompt: str, seed: int, size: int = 512):
        import numpy as np
        import torch
        from PIL import Image

        t0 = time.perf_counter()
        states, pooled = [], None
        for tokenizer, encoder, second in (
            (self.tokenizers[0], self.text_encoder, False),
            (self.tokenizers[1], self.text_encoder_2, True),
        ):
            ids = tokenizer(prompt, padding="max_length", max_length=77, truncation=True, return_tensors="np")
            out = encoder({0: ids.input_ids.astype(np.int64)})
            states.append(out[1])
            if second:
                pooled = out[0]
        embeds = np.concatenate(states, axis=-1)
        t1 = time.perf_counter()
        generator = torch.Generator("cpu").manual_seed(seed)
        self.scheduler.set_timesteps(1)
        latents = (
            torch.randn((1, 4, size // 8, size // 8), generator=generator) * self.scheduler.init_noise_sigma
        )
        timestep = self.scheduler.timesteps[0]
        model_in = self.scheduler.scale_model_input(latents, timestep)
        time_ids = np.array([[size, size, 0, 0, size, size]], dtype=np.float32)
        noise = self.unet(
            [model_in.numpy(), np.array([float(timestep)], dtype=np.float32), embeds, pooled, time_ids]
        )[0]
        latents = self.scheduler.step(
            torch.from_numpy(noise), timestep, latents, generator=generator
        ).prev_sample
        t2 = time.perf_counter()
        pixels = self.decoder({0: latents.numpy()})[0]
        image = Image.fromarray(
            (np.clip(pixels[0].transpose(1, 2, 0) / 2 + 0.5, 0, 1) * 255).astype(np.uint8)
        )
        t3 = time.perf_counter()
        for name, ms in (("prompt", t1 - t0), ("unet", t2 - t1), ("decode", t3 - t2)):
            self.stages_ms.setdefault(name, []).append(ms * 1000)
        return image


def build_peer(pipe, tiny_autoencoder, *, size: int = 512, threads: int = 0) -> OpenVinoPeer:
    """Convert `pipe`'s text encoders and UNet and `tiny_autoencoder`'s decoder; int8 weights."""
    import copy

    import torch

    ov, nncf = require_openvino()
    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": str(threads)} if threads else {}

    class TextEncoder(torch.nn.Module):
        def __init__(self, encoder, projected: bool) -> None:
            super().__init__()
            self.encoder, self.projected = encoder, projected

        def forward(self, ids):
            out = self.encoder(ids, output_hidden_states=True)
            first = out.text_embeds if self.projected else out.pooler_output
            return first, out.hidden_states[-2]

    class Unet(torch.nn.Module):
        def __init__(self, unet) -> None:
            super().__init__()
            self.unet = unet

        def forward(self, sample, timestep, embeds, text_embeds, time_ids):
            added = {"text_embeds": text_embeds, "time_ids": time_ids}
            return self.unet(sample, timestep, embeds, added_cond_kwargs=added, return_dict=False)[0]

    class Decoder(torch.nn.Module):
        def __init__(self, vae) -> None:
            super().__init__()
            self.vae = vae

        def forward(self, latents):
            return self.vae.decode(latents, return_dict=False)[0]

    def compile_(module, example, compress: bool):
        with torch.no_grad():
            model = ov.convert_model(module.eval(), example_input=example)
        if compress:
            model = nncf.compress_weights(model)  # int8 weights, per channel (FastSD CPU's int8 models)
        return core.compile_model(model, "CPU", config)

    dtype = pipe.unet.dtype
    ids = torch.zeros((1, 77), dtype=torch.long)
    latent = size // 8
    unet_example = (
        torch.randn(1, 4, latent, latent, dtype=dtype),
        torch.tensor([999.0], dtype=dtype),
        torch.randn(1, 77, pipe.unet.config.cross_attention_dim, dtype=dtype),
        torch.randn(1, pipe.text_encoder_2.config.projection_dim, dtype=dtype),
        torch.randn(1, 6, dtype=dtype),
    )
    text_encoder = compile_(TextEncoder(pipe.text_encoder, False), ids, True)
    text_encoder_2 = compile_(TextEncoder(pipe.text_encoder_2, True), ids, True)
    unet = compile_(Unet(pipe.unet), unet_example, True)
    decoder = compile_(
        Decoder(tiny_autoencoder), torch.randn(1, 4, latent, latent, dtype=tiny_autoencoder.dtype), False
    )
    return OpenVinoPeer(
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        unet=unet,
        decoder=decoder,
        tokenizers=(pipe.tokenizer, pipe.tokenizer_2),
        scheduler=copy.deepcopy(pipe.scheduler),
        weights="int8 weights (nncf.compress_weights)",
    )
