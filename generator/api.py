"""The generator's public contract: requests, results, errors and the engine interface.

This module imports neither torch nor diffusers, so `bot/` (and, through it, the adapters)
can speak to any engine — the in-process one in `generator.engine` or a remote one later —
without loading a model.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

MAX_PROMPT_CHARS = 300
MAX_COUNT = 4
MIN_STEPS, MAX_STEPS = 1, 4


# --------------------------------------------------------------------------- errors
class GeneratorError(Exception):
    """Base of every error the generator raises on purpose.

    `user_message` is a short sentence that can be shown to a chat user as it is;
    `kind` is a stable label for metrics and for adapters that map errors to UI.
    """

    kind = "generator_error"

    def __init__(self, user_message: str, *, detail: str | None = None) -> None:
        super().__init__(user_message if detail is None else f"{user_message} ({detail})")
        self.user_message = user_message
        self.detail = detail


class InvalidRequest(GeneratorError):
    kind = "invalid_request"


class UnknownStyle(GeneratorError):
    kind = "unknown_style"


class StyleError(GeneratorError):
    """A style file or one of its LoRAs is broken (names the file and the field)."""

    kind = "style_error"


class ModelMissing(GeneratorError):
    kind = "model_missing"


class Overloaded(GeneratorError):
    kind = "overloaded"


class GenerationTimeout(GeneratorError):
    kind = "timeout"


class GenerationFailed(GeneratorError):
    kind = "generation_failed"


class EngineClosed(GeneratorError):
    kind = "engine_closed"


class EngineUnavailable(GeneratorError):
    """A remote engine (the Ray cluster) cannot be reached right now; the bot keeps retrying."""

    kind = "engine_unavailable"


# --------------------------------------------------------------------------- requests/results
@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """One generation job: `count` images of one prompt in one style.

    `prompt` is the final text-to-image prompt (the bot has already filled the style's
    template). Image i uses seed `seed + i`, so any single candidate can be reproduced
    alone. `outline=None` means "the style's default".
    """

    prompt: str
    style: str
    seed: int
    count: int = 1
    negative_prompt: str | None = None
    steps: int | None = None
    width: int = 512
    height: int = 512
    outline: bool | None = None
    shadow: bool = False
    timeout_s: float | None = None
    request_id: str = ""
    # A taught subject's LoRA (a local .safetensors file the bot chose, never the user) fused on top of
    # the style for this request only: the engine draws it as the dynamic style "style+subject".
    subject_lora: str | None = None

    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.count)]


@dataclass(frozen=True, slots=True)
class Sticker:
    """One finished sticker: WebP with alpha, one side exactly 512, under 512,000 bytes."""

    webp: bytes
    seed: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class GenerationResult:
    request: GenerationRequest
    stickers: tuple[Sticker, ...]
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AnimationResult:
    """A video-diffusion clip of the request's prompt and first seed, one encoded file per format
    ("webm" Telegram video sticker, "gif", "webp" animated, "apng" Discord server sticker)."""

    request: GenerationRequest
    files: Mapping[str, bytes]


@dataclass(frozen=True, slots=True)
class StyleSummary:
    """What the bot needs to know about a style to build prompts and show menus."""

    name: str
    description: str
    template: str
    subject: str
    trigger: str
    negative_prompt: str
    background: tuple[int, int, int]
    outline: bool
    steps: int


@dataclass(frozen=True, slots=True)
class EngineHealth:
    """Whether stickers can be made now. `error` says why not (e.g. `ModelMissing`, or a cluster
    that cannot be reached); `ready` is False while the model is still loading, too."""

    ready: bool = True
    error: GeneratorError | None = None


STATS_WINDOW = 1024
"""Batches kept in `EngineStats`' per-batch series."""


@dataclass(slots=True)
class EngineStats:
    """Counters for benchmarks, metrics and tests (a remote engine reports its cluster's totals)."""

    batches: int = 0
    images: int = 0
    failed_batches: int = 0
    switches: int = 0
    # The most recent batches only: a long-running bot must not grow these forever.
    switch_ms: deque[float] = field(default_factory=lambda: deque(maxlen=STATS_WINDOW))
    batch_sizes: deque[int] = field(default_factory=lambda: deque(maxlen=STATS_WINDOW))


PositionCallback = Callable[[int], Awaitable[None] | None]
"""Called with a 1-based place in line while a request waits, and 0 when it starts running."""


@runtime_checkable
class StickerEngine(Protocol):
    """What `bot/` needs from a generator: the in-process engine (`generator.engine`) and the Ray Serve
    client (`generator.serve.client`) implement all of it, so the service never probes attributes."""

    async def start(self) -> None: ...

    async def close(self, timeout_s: float | None = None) -> None:
        """Stop; with `timeout_s`, work still running after that long is abandoned (and failed)."""
        ...

    async def generate(
        self, request: GenerationRequest, on_position: PositionCallback | None = None
    ) -> GenerationResult: ...

    async def animate(self, request: GenerationRequest, formats: Sequence[str]) -> AnimationResult:
        """AnimateDiff on the style's own UNet (same prompt and first seed as the static sticker);
        `generator.animation.errors.AnimationUnavailable` (one line) where there is no motion adapter."""
        ...

    def styles(self) -> Sequence[StyleSummary]: ...

    def unavailable_styles(self) -> Mapping[str, str]:
        """Installed styles that cannot run right now, with the reason for the operator."""
        ...

    def queue_length(self) -> int: ...

    def health(self) -> EngineHealth: ...

    def stats(self) -> EngineStats: ...
