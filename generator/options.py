"""Options of the model loader and the engine (the `model:` and `engine:` config sections).

They live here, not in `bot.config`, because `generator/` never imports `bot/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


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


@dataclass
class RayAutoscalingConfig:
    min_replicas: int = 1
    max_replicas: int = 1
    target_ongoing_requests: float = 2.0  # requests per replica the autoscaler aims for


@dataclass
class RayDeploymentConfig:
    """The Serve deployment that owns one pipeline per replica (see generator/serve/)."""

    name: str = "StickerGenerator"
    num_replicas: int = 1  # ignored when `autoscaling` is set
    autoscaling: RayAutoscalingConfig | None = None
    num_cpus: float = 1.0  # per replica
    num_gpus: float = 0.0  # per replica (0 = CPU-only replicas)
    max_ongoing_requests: int = 16  # requests a replica holds at once (batches are formed from these)
    max_queued_requests: int = 64  # requests waiting for a replica before callers are told "busy"
    max_concurrent_batches: int = 2  # one draws while the previous one is post-processed
    health_check_period_s: float = 10.0


@dataclass
class RayConfig:
    address: str | None = None  # auto | ray://host:10001 | null = start a local Ray (for trying it)
    app: str = "stickerbot"  # the Serve application's name
    reconnect_max_s: float = 30.0  # the bot retries an unreachable cluster with backoff up to this
    deployment: RayDeploymentConfig = field(default_factory=RayDeploymentConfig)


@dataclass
class EngineConfig:
    max_batch_size: int = 4
    max_wait_ms: float = 15.0
    queue_size: int = 64
    timeout_s: float = 60.0
    default_steps: int = 1
    styles_dir: str = "styles"
    default_style: str = "otter"
    matting: str = "flood"  # flood (model-free) | rembg:<model>
    hot_styles: int = 2  # fused UNet copies kept in memory (when memory allows)
    style_patience: int = 3  # batches of the active style that may pass an older request of another style
    backend: Literal["local", "ray"] = "local"  # ray: generation runs on a Ray Serve cluster
    ray: RayConfig = field(default_factory=RayConfig)
