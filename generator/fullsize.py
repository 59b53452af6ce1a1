"""The real SDXL-Turbo architecture with random weights, for speed measurements without a download.

Speed does not depend on the weights' values, so this measures real latency. Modules are created
on the meta device (no memory, no slow default initialisation), materialised directly on the
target device in the target dtype, and filled with a cheap scaled-uniform initialisation that keeps
activations in range (fp16 must not overflow, denormals would distort CPU timings).
"""

from __future__ import annotations

import math

import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderTiny,
    EulerAncestralDiscreteScheduler,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from torch import nn
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from generator.lora import quiet_diffusers
from generator.tiny import build_tokenizer, scheduler_config

UNET_CONFIG: dict[str, object] = {
    "act_fn": "silu",
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256,
    "attention_head_dim": [5, 10, 20],
    "block_out_channels": [320, 640, 1280],
    "cross_attention_dim": 2048,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "projection_class_embeddings_input_dim": 2816,
    "sample_size": 64,
    "transformer_layers_per_block": [1, 2, 10],
    "use_linear_projection": True,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
}
VAE_CONFIG: dict[str, object] = {
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "in_channels": 3,
    "out_channels": 3,
    "sample_size": 1024,
    "scaling_factor": 0.13025,
    "force_upcast": True,
}
TINY_AUTOENCODER_CONFIG: dict[str, object] = {  # the taesdxl architecture
    "in_channels": 3,
    "out_channels": 3,
    "encoder_block_out_channels": [64, 64, 64, 64],
    "decoder_block_out_channels": [64, 64, 64, 64],
    "latent_channels": 4,
    "scaling_factor": 1.0,
}


def _text_config(hidden: int, intermediate: int, layers: int, heads: int, act: str, projection: int):
    tokenizer = build_tokenizer()
    return CLIPTextConfig(
        vocab_size=49408,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        hidden_act=act,
        projection_dim=projection,
        max_position_embeddings=77,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


POOL_SIZE = 4_194_301  # prime, so consecutive rows of a weight do not repeat the same values


@torch.no_grad()
def _fill_from_pool(weight: torch.Tensor, pool: torch.Tensor) -> None:
    """Fill `weight` with values cycled from a random pool (copying is much faster than drawing 3.5 B
    random numbers on a CPU; the values' range, not their independence, is what matters for speed)."""
    flat = weight.view(-1)
    for offset in range(0, flat.numel(), pool.numel()):
        chunk = flat[offset : offset + pool.numel()]
        chunk.copy_(pool[: chunk.numel()])


@torch.no_grad()
def materialise(model: nn.Module, device: torch.device, dtype: torch.dtype, seed: int) -> nn.Module:
    with quiet_diffusers():  # "modules that should be kept in float32: []" — there are none
        model.to(dtype=dtype)
    model.to_empty(device=device)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    unit = (torch.rand(POOL_SIZE, generator=generator) * 2.0 - 1.0).to(device=device)
    pools: dict[float, torch.Tensor] = {}  # one scaled pool per fan-in: a few dozen at most
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if param.dim() >= 2:
                fan_in = param[0].numel()
                bound = 0.02 * math.sqrt(3.0) if isinstance(module, nn.Embedding) else 1.0 / math.sqrt(fan_in)
                if bound not in pools:
                    pools[bound] = (unit * bound).to(dtype)
                _fill_from_pool(param, pools[bound])
            elif "bias" in name:
                param.zero_()
            else:  # norm scales and other 1-d gains
                param.fill_(1.0)
    for name, buffer in model.named_buffers():
        if name.endswith("position_ids"):
            buffer.copy_(torch.arange(buffer.shape[-1], device=device).expand_as(buffer))
    return model.eval()


def build_fullsize_pipeline(
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float16,
    *,
    seed: int = 0,
    tiny_autoencoder: bool = False,
) -> StableDiffusionXLPipeline:
    """SDXL-Turbo's architecture (UNet 2.57 B, CLIP-L, CLIP-bigG, VAE) with random weights."""
    device = torch.device(device)
    with torch.device("meta"):
        unet = UNet2DConditionModel(**UNET_CONFIG)  # type: ignore[arg-type]
        vae: nn.Module = (
            AutoencoderTiny(**TINY_AUTOENCODER_CONFIG)  # type: ignore[arg-type]
            if tiny_autoencoder
            else AutoencoderKL(**VAE_CONFIG)  # type: ignore[arg-type]
        )
        text_encoder = CLIPTextModel(_text_config(768, 3072, 12, 12, "quick_gelu", 768))
        text_encoder_2 = CLIPTextModelWithProjection(_text_config(1280, 5120, 32, 20, "gelu", 1280))
    for offset, model in enumerate((unet, vae, text_encoder, text_encoder_2)):
        materialise(model, device, dtype, seed + offset)
    pipe = StableDiffusionXLPipeline(
        vae=vae,  # type: ignore[arg-type]
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=build_tokenizer(),
        tokenizer_2=build_tokenizer(),
        unet=unet,
        scheduler=EulerAncestralDiscreteScheduler(**scheduler_config()),
        add_watermarker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe
