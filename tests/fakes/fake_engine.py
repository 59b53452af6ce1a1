"""A fast, deterministic stand-in for the generation engine, for edge-case tests of the bot and adapters.

It honours the `StickerEngine` contract (queue positions, Overloaded, timeouts, styles) and
returns real, decodable WebP stickers with alpha (a disc whose colour depends on prompt and seed),
so adapters and platform fakes can validate what they receive. End-to-end tests use the real
engine on the tiny model instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Mapping, Sequence

from PIL import Image, ImageDraw

from generator.api import (
    AnimationResult,
    EngineClosed,
    EngineHealth,
    EngineStats,
    GenerationFailed,
    GenerationRequest,
    GenerationResult,
    GeneratorError,
    Overloaded,
    PositionCallback,
    Sticker,
    StickerEngine,
    StyleSummary,
    UnknownStyle,
)

FAKE_STYLES = (
    StyleSummary(
        name="otter",
        description="Round, cheerful otter stickers",
        template="{expression}, {subject}, {trigger}",
        subject="otter",
        trigger="dm-sticker",
        negative_prompt="blurry",
        background=(255, 255, 255),
        outline=True,
        steps=1,
    ),
    StyleSummary(
        name="rabbit",
        description="A soft rabbit",
        template="{expression}, {subject}, {trigger}",
        subject="rabbit",
        trigger="dm-sticker",
        negative_prompt="blurry",
        background=(0, 255, 0),
        outline=False,
        steps=1,
    ),
)


def fake_sticker(prompt: str, seed: int) -> Sticker:
    digest = hashlib.sha256(f"{prompt}|{seed}".encode()).digest()
    img = Image.new("RGBA", (512, 512), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((40, 40, 472, 472), fill=(digest[0], digest[1], digest[2], 255))
    buf = io.BytesIO()
    img.save(buf, "WEBP", quality=80)
    return Sticker(webp=buf.getvalue(), seed=seed, width=512, height=512)


class FakeEngine(StickerEngine):
    """Runs `max_batch` jobs at once after `delay_s`; records every request it ran."""

    def __init__(
        self,
        *,
        delay_s: float = 0.0,
        max_batch: int = 4,
        queue_size: int = 64,
        styles: Sequence[StyleSummary] = FAKE_STYLES,
    ) -> None:
        self.delay_s = delay_s
        self.queue_size = queue_size
        self._styles = {s.name: s for s in styles}
        self._slots = asyncio.Semaphore(max_batch)
        self._waiting: list[object] = []
        self.ran: list[GenerationRequest] = []
        self.fail_next = 0
        self.closed = False
        self.load_error: GeneratorError | None = None  # set it to play an engine whose model is missing
        self.counters = EngineStats()
        self.animations = True  # False plays an engine without a motion adapter
        self.animated: list[GenerationRequest] = []

    async def start(self) -> None:
        self.closed = False

    async def close(self, timeout_s: float | None = None) -> None:
        self.closed = True

    def styles(self) -> Sequence[StyleSummary]:
        return list(self._styles.values())

    def unavailable_styles(self) -> Mapping[str, str]:
        return {}

    def queue_length(self) -> int:
        return len(self._waiting)

    def health(self) -> EngineHealth:
        return EngineHealth(ready=self.load_error is None, error=self.load_error)

    def stats(self) -> EngineStats:
        return self.counters

    async def animate(self, request: GenerationRequest, formats: Sequence[str]) -> AnimationResult:
        """A real clip (the fake sticker with a preset, really encoded) standing in for AnimateDiff."""
        from generator.animation.encode import discord_server_sticker_animated, encode_clip
        from generator.animation.errors import AnimationUnavailable
        from generator.animation.motion import animate

        if not self.animations:
            raise AnimationUnavailable("Diffusion animations are off (no model.motion_adapter).")
        if request.style not in self._styles:
            raise UnknownStyle(f"Unknown style '{request.style}'.")
        self.animated.append(request)
        sticker = Image.open(io.BytesIO(fake_sticker(request.prompt, request.seed).webp)).convert("RGBA")
        clip = animate(sticker, "bounce")
        files = {
            f: discord_server_sticker_animated(clip, "apng") if f == "apng" else encode_clip(clip, f)
            for f in formats
        }
        return AnimationResult(request=request, files=files)

    async def generate(
        self, request: GenerationRequest, on_position: PositionCallback | None = None
    ) -> GenerationResult:
        if self.closed:
            raise EngineClosed("The sticker engine is shutting down.")
        if request.style not in self._styles:
            raise UnknownStyle(f"Unknown style '{request.style}'.")
        if len(self._waiting) >= self.queue_size:
            raise Overloaded("The sticker engine is busy. Please try again in a moment.")
        token = object()
        self._waiting.append(token)
        try:
            if on_position is not None and self._slots.locked():
                await _call(on_position, self._waiting.index(token) + 1)
            async with self._slots:
                self._waiting.remove(token)
                if on_position is not None:
                    await _call(on_position, 0)
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                if self.fail_next > 0:
                    self.fail_next -= 1
                    raise GenerationFailed("Something went wrong while drawing that sticker.")
                self.ran.append(request)
                self.counters.batches += 1
                self.counters.images += request.count
                stickers = tuple(fake_sticker(request.prompt, s) for s in request.seeds())
                return GenerationResult(request=request, stickers=stickers)
        finally:
            if token in self._waiting:
                self._waiting.remove(token)


async def _call(cb: PositionCallback, value: int) -> None:
    result = cb(value)
    if asyncio.iscoroutine(result):
        await result
