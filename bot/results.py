"""What happens to stickers once made: the result cache, the stored record, and the reply's files.

Storage is an optimisation and a convenience (buttons need the record): when the disk or the
database fails, the user still gets the stickers and the failure is only logged.
"""

from __future__ import annotations

import asyncio
import io
import logging

from bot.cache import StickerCache, result_key, sha256_hex
from bot.logs import Throttled
from bot.motion import with_motion
from bot.planning import Plan
from bot.records import RecordStore
from bot.storage import DatabaseError
from bot.types import StickerFile, StickerFormat, StickerRequest

log = logging.getLogger("bot.service")
storage_failures = Throttled(log)  # a full disk or a refusing database fails every request alike


class Results:
    """The cache (by result key) and the records of one service."""

    def __init__(self, cache: StickerCache, records: RecordStore, model: str) -> None:
        self.cache = cache
        self.records = records
        self.model = model

    def key_for(self, plan: Plan) -> str:
        return result_key(
            model=self.model,
            prompt=plan.built.prompt,
            style=plan.style.name if plan.subject_lora is None else f"{plan.style.name}+{plan.subject_lora}",
            template=plan.style.template,
            trigger=plan.style.trigger,
            steps=plan.style.steps,
            seed=plan.seed,
            count=plan.count,
            outline=plan.outline,
        )

    async def lookup(self, key: str) -> list[tuple[str, bytes]] | None:
        try:
            return await self.cache.lookup(key)
        except (OSError, DatabaseError) as exc:  # the cache is an optimisation: a failure is a miss
            storage_failures.warning("cache lookup failed", exc)
            return None

    async def remember(self, key: str, files: list[bytes], what: str = "result") -> tuple[str, ...]:
        """Store `files` under `key`; their hashes either way (disk full, database down: still answer)."""
        try:
            return await self.cache.remember(key, files)
        except (OSError, DatabaseError) as exc:
            storage_failures.warning(f"could not store the {what} in the cache", exc)
            return tuple(sha256_hex(f) for f in files)

    async def record(self, request: StickerRequest, plan: Plan, hashes: tuple[str, ...]) -> str | None:
        """The new record's id, or None when it could not be stored (the buttons lose their record)."""
        try:
            stored = await self.records.add(
                platform=request.platform,
                user_id=request.user_id,
                server=request.scope_server,
                text=with_motion(plan.text, plan.animate),  # a reroll of an animation animates too
                prompt=plan.built.prompt,
                style=plan.style.name,
                seed=plan.seed,
                count=plan.count,
                emoji=plan.emoji,
                sticker_hashes=hashes,
            )
        except DatabaseError as exc:
            storage_failures.warning("could not store the sticker record", exc)
            return None
        return stored.record_id

    async def files(
        self, request: StickerRequest, plan: Plan, key: str, webps: list[bytes], hashes: tuple[str, ...]
    ) -> tuple[StickerFile, ...]:
        """The reply's files in the formats the request asked for (Discord PNGs converted once, cached)."""
        formats = request.formats or frozenset({StickerFormat.WEBP})
        pngs: list[tuple[str, bytes]] = []
        if StickerFormat.DISCORD_PNG in formats:
            png_key = f"{key}:discord_png"
            found = await self.lookup(png_key)
            if found is None:
                converted = await asyncio.to_thread(_discord_pngs, webps)
                stored = await self.remember(png_key, converted, "PNG stickers")
                found = list(zip(stored, converted, strict=True))
            pngs = found
        files: list[StickerFile] = []
        for i, (sha, data) in enumerate(zip(hashes, webps, strict=True)):
            seed = plan.seed + i
            if StickerFormat.WEBP in formats:
                w, h = _image_size(data)
                files.append(StickerFile(data, StickerFormat.WEBP, w, h, seed, sha))
            if pngs:
                png_sha, png = pngs[i]
                w, h = _image_size(png)
                files.append(StickerFile(png, StickerFormat.DISCORD_PNG, w, h, seed, png_sha))
        return tuple(files)


def _discord_pngs(webps: list[bytes]) -> list[bytes]:
    from generator.postprocess import discord_server_sticker  # Pillow work, loaded on first use

    return [discord_server_sticker(w) for w in webps]


def _image_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return int(im.width), int(im.height)
