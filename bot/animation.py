"""Animated results for the service: which formats a platform gets, and cached preset animation.

An animation is made from the finished static sticker (its exact bytes), so a cached static result
animates without drawing again, and an animated result is cached by (static sticker, motion,
format). Encoding is CPU work in a worker thread. Video diffusion (`anim:diffusion`) runs on the engine's
worker (`StickerEngine.animate`) for the first candidate; it is cached the same way, keyed by that
candidate's static sticker (same prompt, seed and style).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import replace

from bot import messages
from bot.cache import StickerCache, is_sha256, result_key, sha256_hex
from bot.generation import Generations
from bot.logs import Throttled
from bot.motion import DIFFUSION
from bot.planning import Plan, fail
from bot.results import Results
from bot.storage import DatabaseError
from bot.types import ErrorKind, StickerFile, StickerFormat, StickerReply, StickerRequest

log = logging.getLogger(__name__)
cache_failures = Throttled(log)

ANIMATED_FORMATS = frozenset(
    {StickerFormat.WEBM, StickerFormat.GIF, StickerFormat.WEBP_ANIMATED, StickerFormat.DISCORD_APNG}
)
PLATFORM_FORMATS: dict[str, frozenset[StickerFormat]] = {
    "telegram": frozenset({StickerFormat.WEBM}),
    "discord": frozenset({StickerFormat.GIF}),
    "web": frozenset({StickerFormat.WEBP_ANIMATED}),
}
DEFAULT_FORMATS = frozenset({StickerFormat.WEBM})
FILE_SUFFIX: dict[StickerFormat, str] = {  # what an attachment's file name should end in
    StickerFormat.WEBP: "webp",
    StickerFormat.DISCORD_PNG: "png",
    StickerFormat.WEBM: "webm",
    StickerFormat.GIF: "gif",
    StickerFormat.WEBP_ANIMATED: "webp",
    StickerFormat.DISCORD_APNG: "png",
}
ENGINE_FORMAT: dict[StickerFormat, str] = {  # `StickerEngine.animate`'s format names
    StickerFormat.WEBM: "webm",
    StickerFormat.GIF: "gif",
    StickerFormat.WEBP_ANIMATED: "webp",
    StickerFormat.DISCORD_APNG: "apng",
}
ANIMATION_VERSION = 1  # part of the cache key: bump when presets or encoders change their output


def animated_formats(platform: str, requested: Iterable[StickerFormat]) -> frozenset[StickerFormat]:
    """The animated formats to deliver: those requested, else the platform's own for chat stickers and
    the APNG server sticker where server-sticker PNGs are asked for."""
    requested = frozenset(requested)
    chosen = requested & ANIMATED_FORMATS
    if chosen:
        return chosen
    if StickerFormat.DISCORD_PNG in requested:
        chosen = frozenset({StickerFormat.DISCORD_APNG})
    if StickerFormat.WEBP in requested or not chosen:
        chosen |= PLATFORM_FORMATS.get(platform, DEFAULT_FORMATS)
    return chosen


def _render(webp: bytes, motion: str, formats: tuple[StickerFormat, ...]) -> list[bytes]:
    """Static sticker bytes → one encoded animation per format (torch-free, run in a thread)."""
    from generator.animation.encode import discord_server_sticker_animated, encode_clip
    from generator.animation.motion import animate
    from generator.postprocess import load_image

    clip = animate(load_image(webp).convert("RGBA"), motion)
    out = []
    for fmt in formats:
        if fmt == StickerFormat.DISCORD_APNG:
            out.append(discord_server_sticker_animated(clip, "apng"))
        else:
            out.append(encode_clip(clip, ENGINE_FORMAT[fmt]))
    return out


class Animator:
    """Animates finished stickers with a preset and caches the encoded files."""

    def __init__(self, cache: StickerCache) -> None:
        self.cache = cache

    async def files(
        self,
        webps: list[bytes],
        hashes: tuple[str, ...],
        first_seed: int,
        motion: str,
        formats: frozenset[StickerFormat],
    ) -> tuple[StickerFile, ...]:
        ordered = tuple(sorted(formats, key=lambda f: f.value))
        files: list[StickerFile] = []
        for i, (sha, webp) in enumerate(zip(hashes, webps, strict=True)):
            keys = [
                result_key(kind="animation", v=ANIMATION_VERSION, sticker=sha, motion=motion, format=f.value)
                for f in ordered
            ]
            found = [await self._lookup(key) for key in keys]
            if any(f is None for f in found):
                rendered = await asyncio.to_thread(_render, webp, motion, ordered)
                found = [
                    (await self._remember(key, data), data) for key, data in zip(keys, rendered, strict=True)
                ]
            for fmt, item in zip(ordered, found, strict=True):
                assert item is not None
                anim_sha, data = item
                side = 320 if fmt == StickerFormat.DISCORD_APNG else 512
                files.append(StickerFile(data, fmt, side, side, first_seed + i, anim_sha))
        return tuple(files)

    async def diffusion_files(
        self,
        request: StickerRequest,
        plan: Plan,
        hashes: tuple[str, ...],
        formats: frozenset[StickerFormat],
        generations: Generations,
    ) -> tuple[StickerFile, ...]:
        """AnimateDiff on the style's UNet for the first candidate (one clip); cached like presets."""
        ordered = tuple(sorted(formats, key=lambda f: f.value))
        keys = [
            result_key(
                kind="animation", v=ANIMATION_VERSION, sticker=hashes[0], motion=DIFFUSION, format=f.value
            )
            for f in ordered
        ]
        found = [await self._lookup(key) for key in keys]
        if any(f is None for f in found):
            clips = await generations.animate(request, plan, tuple(ENGINE_FORMAT[f] for f in ordered))
            found = [
                (await self._remember(key, clips[ENGINE_FORMAT[f]]), clips[ENGINE_FORMAT[f]])
                for key, f in zip(keys, ordered, strict=True)
            ]
        files = []
        for fmt, item in zip(ordered, found, strict=True):
            assert item is not None
            side = 320 if fmt == StickerFormat.DISCORD_APNG else 512
            files.append(StickerFile(item[1], fmt, side, side, plan.seed, item[0]))
        return tuple(files)

    async def animate_parent(self, request: StickerRequest, plan: Plan, results: Results) -> StickerReply:
        """🎬 Animate: the parent's sticker with `request.seed` (default its first) as an animation,
        from its exact stored bytes (nothing is drawn again)."""
        parent = plan.parent
        assert parent is not None and plan.animate is not None
        index = 0 if request.seed is None else request.seed - parent.seed
        if not 0 <= index < len(parent.sticker_hashes):
            raise fail(ErrorKind.NOT_FOUND, messages.STICKER_GONE)
        sha = parent.sticker_hashes[index]
        webp = await self.cache.store.get(sha) if is_sha256(sha) else None
        if webp is None:
            raise fail(ErrorKind.NOT_FOUND, messages.STICKER_GONE)
        one = replace(plan, seed=parent.seed + index, count=1)
        formats = animated_formats(request.platform, request.formats)
        files = await self.files([webp], (sha,), one.seed, plan.animate, formats)
        return StickerReply(
            request=request,
            stickers=files,
            record_id=await results.record(request, one, (sha,)),
            style=parent.style,
            seed=one.seed,
            prompt=parent.prompt,
            emoji=parent.emoji,
            motion=plan.animate,
        )

    async def _lookup(self, key: str) -> tuple[str, bytes] | None:
        try:
            found = await self.cache.lookup(key)
        except (OSError, DatabaseError) as exc:
            cache_failures.warning("animation cache lookup failed", exc)
            return None
        return found[0] if found else None

    async def _remember(self, key: str, data: bytes) -> str:
        try:
            return (await self.cache.remember(key, [data]))[0]
        except (OSError, DatabaseError) as exc:
            cache_failures.warning("could not store the animation in the cache", exc)
            return sha256_hex(data)
