"""A tiny random-weight SDXL pipeline built from the real diffusers/transformers classes.

Tests and the tiny-model benchmark load it through the same `from_pretrained` path as the
real model, so everything except the weights' values (and the sizes) is exercised. Nothing
is downloaded: the CLIP tokenizer is built from the byte-level alphabet.

The VAE keeps SDXL's 8x down-scaling (four blocks, few channels) so a 512x512 sticker maps
to 64x64 latents, as in production, and a 512x512 image takes a fraction of a second on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderTiny,
    EulerAncestralDiscreteScheduler,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer
from transformers.convert_slow_tokenizer import bytes_to_unicode

BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
TEXT_HIDDEN = 32
TEXT_VOCAB = 1000
TIME_EMBED_DIM = 8


def scheduler_config() -> dict[str, object]:
    """SDXL-Turbo's scheduler settings (the same for the tiny and the full-size model)."""
    return {
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "num_train_timesteps": 1000,
        "prediction_type": "epsilon",
        "steps_offset": 1,
        "timestep_spacing": "trailing",
    }


def build_tokenizer() -> CLIPTokenizer:
    """A CLIP tokenizer whose vocabulary is every byte, alone and at the end of a word."""
    alphabet = list(bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for symbol in alphabet:
        vocab[symbol] = len(vocab)
    for symbol in alphabet:
        vocab[symbol + "</w>"] = len(vocab)
    vocab[BOS_TOKEN] = len(vocab)
    vocab[EOS_TOKEN] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _text_config(tokenizer: CLIPTokenizer) -> CLIPTextConfig:
    return CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        hidden_size=TEXT_HIDDEN,
        intermediate_size=37,
        layer_norm_eps=1e-5,
        num_attention_heads=4,
        num_hidden_layers=5,
        vocab_size=TEXT_VOCAB,
        hidden_act="gelu",
        projection_dim=TEXT_HIDDEN,
        max_position_embeddings=77,
    )


def build_tiny_unet() -> UNet2DConditionModel:
    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=64,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=TIME_EMBED_DIM,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=6 * TIME_EMBED_DIM + TEXT_HIDDEN,
        cross_attention_dim=2 * TEXT_HIDDEN,
        norm_num_groups=1,
    )


def build_tiny_vae() -> AutoencoderKL:
    return AutoencoderKL(
        block_out_channels=(8, 16, 16, 16),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=512,
        scaling_factor=0.13025,
    )


def build_tiny_autoencoder(seed: int = 0) -> AutoencoderTiny:
    """A tiny AutoencoderTiny (the taesdxl architecture, fewer channels) for the `model.tiny_vae` switch."""
    torch.manual_seed(seed)
    return AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
        latent_channels=4,
    )


def build_tiny_pipeline(seed: int = 0) -> StableDiffusionXLPipeline:
    """Build the tiny pipeline in memory with weights drawn from `seed` (fp32, CPU)."""
    torch.manual_seed(seed)
    unet = build_tiny_unet()
    torch.manual_seed(seed + 1)
    vae = build_tiny_vae()
    tokenizer = build_tokenizer()
    torch.manual_seed(seed + 2)
    text_encoder = CLIPTextModel(_text_config(tokenizer))
    torch.manual_seed(seed + 3)
    text_encoder_2 = CLIPTextModelWithProjection(_text_config(tokenizer))
    scheduler = EulerAncestralDiscreteScheduler(**scheduler_config())
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=build_tokenizer(),
        unet=unet,
        scheduler=scheduler,
        add_watermarker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_tiny_pipeline(directory: str | Path, seed: int = 0) -> Path:
    """Build the tiny pipeline and `save_pretrained` it (safetensors) into `directory`."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    build_tiny_pipeline(seed).save_pretrained(target, safe_serialization=True)
    return target


def save_tiny_autoencoder(directory: str | Path, seed: int = 0) -> Path:
    """Save the tiny AutoencoderTiny into `directory` (point `model.tiny_vae` at it)."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    build_tiny_autoencoder(seed).save_pretrained(target, safe_serialization=True)
    return target
