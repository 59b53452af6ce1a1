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

__all__ = ["EngineConfig", "ModelConfig", "Section", "invalid"]


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
    compile: Literal["auto", "off", "regional", "full"] = Field(
        "auto", description="torch.compile (YAML's bare `off` reads as false and means off)"
    )
    warmup: bool = Field(True, description="run one generation at start-up so the first user does not wait")
    prompt_cache: int = Field(
        256, ge=0, description='prompt embeddings kept for rerolls / "more" (same prompt, new seed); 0 = off'
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
    matting: str = Field("flood", description="background removal: flood (model-free) | rembg:<model>")
    hot_styles: Positive = Field(2, description="fused UNet copies kept in memory for fast style switches")
    style_patience: int = Field(
        3, description="batches of the active style that may pass an older request of another style"
    )

    @field_validator("matting")
    @classmethod
    def _matting(cls, value: str) -> str:
        if not (value == "flood" or value.startswith("rembg:")):
            raise invalid(f"must be flood or rembg:<model> (got {value!r})")
        return value
