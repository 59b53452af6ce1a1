"""Inline candidates: each sticker uploaded to the storage chat (for a file_id) as soon as it is made.

Uploads start when a part of the query's work finishes, not when all of it has, so an answer at
the deadline carries every candidate that was ready in time.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from telegram import Bot
from telegram.error import TelegramError

from adapters.telegram.context import TelegramContext
from bot.types import StickerFile, StickerFormat, StickerReply

log = logging.getLogger("adapters.telegram.inline")


@dataclass(frozen=True, slots=True)
class Candidate:
    result_id: str
    file_id: str
    record_id: str | None
    index: int  # within its record (for the ➕ button)


class CandidateUploads:
    """The file ids of one query's candidates, in order; uploads run as background tasks."""

    def __init__(self, ctx: TelegramContext, bot: Bot) -> None:
        self.ctx = ctx
        self.bot = bot
        self._tasks: list[asyncio.Task[Candidate | None]] = []
        self._video: list[bool] = []  # per task: a video sticker (an animated candidate)

    def add(self, reply: StickerReply) -> None:
        for index, sticker in enumerate(reply.stickers):
            place = len(self._tasks)
            self._tasks.append(self.ctx.tasks.spawn(self._upload(reply, index, place, sticker)))
            self._video.append(sticker.format == StickerFormat.WEBM)

    async def wait(self, within_s: float) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=max(within_s, 0.0))

    def ready(self) -> tuple[Candidate, ...]:
        """The uploaded candidates in the order they were made, animated ones after the static ones."""
        done = [
            (video, t.result())
            for video, t in zip(self._video, self._tasks, strict=True)
            if t.done() and not t.cancelled() and t.exception() is None and t.result()
        ]
        return tuple(c for video, c in sorted(done, key=lambda item: item[0]) if c is not None)

    @property
    def complete(self) -> bool:
        """Every sticker added so far has its file id."""
        return len(self.ready()) == len(self._tasks)

    @property
    def static_complete(self) -> bool:
        """Every static sticker added so far has its file id (animated ones may still be uploading)."""
        return all(
            t.done() and not t.cancelled() and t.exception() is None and t.result() is not None
            for video, t in zip(self._video, self._tasks, strict=True)
            if not video
        )

    async def _upload(
        self, reply: StickerReply, index: int, place: int, sticker: StickerFile
    ) -> Candidate | None:
        try:
            file_id = await self.ctx.uploads.file_id(self.bot, sticker)
        except TelegramError as err:
            log.warning("telegram: storage upload of %s failed: %s", sticker.sha256[:12], err.message)
            return None
        if file_id is None:
            return None
        return Candidate(f"{place}-{sticker.sha256[:40]}", file_id, reply.record_id, index)


def made(part: asyncio.Task[StickerReply | None]) -> StickerReply | None:
    """The part's reply when it finished with stickers, else None."""
    if not part.done() or part.cancelled() or part.exception() is not None:
        return None
    reply = part.result()
    if reply is None or reply.error is not None or not reply.stickers:
        return None
    return reply
