"""Options of the model loader and the engine (the `model:` and `engine:` config sections).

They live here, not in `bot.config`, because `generator/` never imports `bot/`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ModelConfig:
    path: str = "stabilityai/sdxl-turbo"  # hub id or local directory
    device: str = "auto"  # auto | cuda | mps | cpu
    dtype: str = "auto"  # auto | float16 | bfloat16 | float32
    variant: str | None = "auto"  # auto (fp16 on CUDA) | fp16 | none
    local_files_only: bool = False
    tiny_vae: str | None = None  # optional AutoencoderTiny (taesdxl) hub id or directory for decoding
    channels_last: bool = True
    sdpa: bool = True  # scaled-dot-product attention (False: the classic attention processor)
    vae_upcast: str = "auto"  # auto (fp32 VAE only where fp16 would overflow) | always | never
    fuse_qkv: bool = True
    compile: str = "auto"  # auto | off | regional | full
    warmup: bool = True
    prompt_cache: int = 256  # prompt embeddings kept for rerolls (same prompt, new seed); 0 = off
    subject_prior: bool = True  # record the subject's cross-attention as a cut-out prior (uncompiled UNet)


@dataclass
class EngineConfig:
    max_batch_size: int = 4
    max_wait_ms: float = 15.0
    queue_size: int = 64
    timeout_s: float = 60.0
    default_steps: int = 1
    styles_dir: str = "styles"
    default_style: str = "otter"
    matting: str = "flood"  # flood (model-free) | rembg:<model> | segment:<hub id or directory>
    hot_styles: int = 2  # fused UNet copies kept in memory (when memory allows)
    style_patience: int = 3  # batches of the active style that may pass an older request of another style
