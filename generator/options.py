"""Options of the model loader and the engine (the `model:` and `engine:` config sections).

They live here, not in `bot.config`, because `generator/` never imports `bot/`. Every section is a
pydantic model: unknown keys, wrong types and out-of-range values are refused, and the descriptions
below are what the generated configuration reference shows.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "EngineConfig",
    "ModelConfig",
    "RayAutoscalingConfig",
    "RayConfig",
    "RayDeploymentConfig",
    "Section",
    "invalid",
]


class Section(BaseModel):
    """A config section: strict types (no "yes" for true, no 1.5 for a count), no unknown keys."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=False)

    @model_validator(mode="before")
    @classmethod
    def _empty_section_is_defaults(cls, data: Any) -> Any:
        """`web:` with nothing under it (YAML null) means the section's defaults."""
        if not isinstance(data, dict):
            return data
        return {k: v for k, v in data.items() if not (v is None and _is_section(cls.model_fields.get(k)))}


def _is_section(field: Any) -> bool:
    return field is not None and isinstance(field.annotation, type) and issubclass(field.annotation, Section)


def invalid(message: str) -> PydanticCustomError:
    """A value error whose text is shown as is after the key ("'model.device' must be …")."""
    return PydanticCustomError("config_value", "{message}", {"message": message})


Positive = Annotated[int, Field(gt=0)]
_DEVICE = re.compile(r"^(auto|cuda|cuda:\d+|mps|cpu)$")


class ModelConfig(Section):
    path: str = Field(
        "stabilityai/sdxl-turbo", description="Hugging Face hub id, or a local diffusers directory"
    )
    device: str = Field("auto", description="auto | cuda | cuda:N | mps | cpu")
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = Field(
        "auto", description="auto: fp16 on GPU, bf16/fp32 on CPU"
    )
    precision: Literal["auto", "fp32", "bf16", "int8"] = Field(
        "auto",
        description="CPU compute: auto picks bf16 where the CPU has it natively, int8 linears + fp32 on "
        "AVX2/AVX512 without bf16, else fp32; wins over dtype when set",
    )
    variant: str | None = Field(
        "auto", description="auto (fp16 weights on CUDA) | fp16 | null (full precision)"
    )
    local_files_only: bool = Field(False, description="true: never contact the hub, use the local cache only")
    tiny_vae: str | None = Field(
        None,
        description="optional AutoencoderTiny (e.g. madebyollin/taesdxl) hub id or directory for decoding",
    )
    channels_last: bool = Field(True, description="channels-last memory format for the UNet/VAE")
    sdpa: bool = Field(
        True, description="scaled-dot-product attention (false: the classic attention processor)"
    )
    vae_upcast: Literal["auto", "always", "never"] = Field(
        "auto", description="auto: fp32 VAE only where fp16 would overflow"
    )
    fuse_qkv: bool = Field(True, description="fuse attention projections")
    cpu_packed_weights: bool | Literal["auto"] = Field(
        "auto",
        description="CPU: keep linear/conv weights in oneDNN's blocked layout (faster steps; a second copy "
        "of the weights in memory); auto: only where that copy leaves as much memory free as it takes",
    )
    compile: Literal["auto", "off", "regional", "full"] = Field(
        "auto", description="torch.compile (YAML's bare `off` reads as false and means off)"
    )
    warmup: bool = Field(True, description="run one generation at start-up so the first user does not wait")
    prompt_cache: int = Field(
        256, ge=0, description='prompt embeddings kept for rerolls / "more" (same prompt, new seed); 0 = off'
    )
    motion_adapter: str | None = Field(
        "guoyww/animatediff-motion-adapter-sdxl-beta",
        description="AnimateDiff SDXL motion adapter for diffusion animations: hub id or local directory; "
        "null = motion presets only",
    )
    motion_frames: int = Field(8, ge=8, le=16, description="frames per diffusion animation (8-16)")
    motion_from_static_strength: float = Field(
        0.6,
        ge=0,
        le=1,
        description="diffusion animations start from the static sticker, re-drawing this share of the noise "
        "schedule (image-to-video); 0 (or 1) = from pure noise (text-to-video)",
    )
    subject_prior: bool = Field(
        True, description="record the subject's cross-attention as a cut-out prior (not with compile)"
    )

    @field_validator("compile", mode="before")
    @classmethod
    def _off_is_false(cls, value: Any) -> Any:
        return "off" if value is False else value  # YAML 1.1 reads a bare `off` as false

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise invalid(f"must be auto, cuda, cuda:N, mps or cpu (got {value!r})")
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.strip():
            raise invalid("must name a hub id or a local directory")
        return value


_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _plain_name(value: str) -> str:
    if not _PLAIN_NAME.match(value):
        raise invalid(f"must be a plain name of letters, digits, '.', '_' or '-' (got {value!r})")
    return value


class RayAutoscalingConfig(Section):
    min_replicas: int = Field(1, ge=0, description="replicas kept running (0: scale to zero when idle)")
    max_replicas: Positive = Field(1, description="the most replicas the autoscaler starts")
    target_ongoing_requests: float = Field(
        2.0, gt=0, description="requests per replica the autoscaler aims for"
    )

    @model_validator(mode="after")
    def _order(self) -> RayAutoscalingConfig:
        if self.max_replicas < self.min_replicas:
            raise invalid(
                f"max_replicas ({self.max_replicas}) must be at least min_replicas ({self.min_replicas})"
            )
        return self


class RayDeploymentConfig(Section):
    """The Serve deployment that owns one pipeline per replica (see generator/serve/)."""

    name: str = Field("StickerGenerator", description="the deployment's name")
    num_replicas: Positive = Field(1, description="fixed replica count (ignored when autoscaling is set)")
    autoscaling: RayAutoscalingConfig | None = Field(
        None, description="e.g. {min_replicas: 1, max_replicas: 4, target_ongoing_requests: 2}"
    )
    num_cpus: float = Field(1.0, ge=0, description="CPUs per replica")
    num_gpus: float = Field(0.0, ge=0, description="GPUs per replica (0 = CPU-only replicas)")
    max_ongoing_requests: Positive = Field(
        16, description="requests one replica holds at once (its batches are formed from these)"
    )
    max_queued_requests: int = Field(
        64, ge=0, description='requests waiting for a replica before the bot is told "busy"'
    )
    max_concurrent_batches: Positive = Field(
        2, description="batches in progress per replica: one draws while the previous one is post-processed"
    )
    health_check_period_s: float = Field(10.0, gt=0, description="how often Serve checks each replica")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _plain_name(value)


class RayConfig(Section):
    address: str | None = Field(
        None, description="auto | ray://host:10001 | host:6379 | null = start a local Ray (for trying it)"
    )
    app: str = Field("stickerbot", description="the Serve application's name")
    reconnect_max_s: float = Field(
        30.0, gt=0, description="an unreachable cluster is retried with backoff up to this interval"
    )
    deployment: RayDeploymentConfig = Field(default_factory=RayDeploymentConfig)

    @field_validator("app")
    @classmethod
    def _app(cls, value: str) -> str:
        return _plain_name(value)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise invalid("must be auto, ray://host:10001, host:6379 or null")
        return value


class EngineConfig(Section):
    max_batch_size: Positive = Field(4, description="images generated together in one UNet call")
    max_wait_ms: float = Field(
        15.0, ge=0, description="how long a batch waits for more requests of its style"
    )
    queue_size: Positive = Field(64, description='requests queued inside the engine before it answers "busy"')
    timeout_s: float = Field(60.0, gt=0, description='a request taking longer gets a "took too long" answer')
    default_steps: int = Field(1, ge=1, le=4, description="diffusion steps (SDXL-Turbo is made for 1)")
    styles_dir: str = Field("styles", description="directory of style *.yaml files (and the LoRAs they name)")
    default_style: str = Field("otter", description="the global default style (servers may choose their own)")
    matting: str = Field(
        "flood",
        description="background removal: flood (model-free) | rembg:<model> | segment:<hub id or dir>",
    )
    hot_styles: Positive = Field(2, description="fused UNet copies kept in memory for fast style switches")
    style_patience: int = Field(
        3, description="batches of the active style that may pass an older request of another style"
    )
    backend: Literal["local", "ray"] = Field(
        "local", description="local (this process) | ray (a Ray Serve cluster; pip install 'stickerbot[ray]')"
    )
    ray: RayConfig = Field(default_factory=RayConfig)

    @field_validator("matting")
    @classmethod
    def _matting(cls, value: str) -> str:
        if not (value == "flood" or value.startswith(("rembg:", "segment:"))):
            raise invalid(f"must be flood, rembg:<model> or segment:<model> (got {value!r})")
        return value
