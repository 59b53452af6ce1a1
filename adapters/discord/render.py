"""Rendering the core's neutral replies as Discord messages: WebP attachments, a footer, buttons."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable

import discord

from adapters.discord import errors
from bot.types import StickerFile, StickerReply

log = logging.getLogger(__name__)

ViewFactory = Callable[[str, int], discord.ui.View]


def footer(reply: StickerReply) -> str:
    """One small line under the stickers: "style · seed 1234" (or "seeds 1234–1237")."""
    seeds = [s.seed for s in reply.stickers] or ([reply.seed] if reply.seed is not None else [])
    parts = [reply.style or "default"]
    if len(seeds) == 1:
        parts.append(f"seed {seeds[0]}")
    elif seeds:
        parts.append(f"seeds {min(seeds)}–{max(seeds)}")
    if reply.cached:
        parts.append("from cache")
    return "-# " + " · ".join(parts)


def sticker_files(stickers: tuple[StickerFile, ...], description: str = "sticker") -> list[discord.File]:
    """The stickers as WebP attachments; `description` is each file's alt text (for screen readers)."""
    return [
        discord.File(
            io.BytesIO(s.data), filename=f"sticker-{s.seed}-{i + 1}.webp", description=description[:1024]
        )
        for i, s in enumerate(stickers)
    ]


def alt_text(reply: StickerReply) -> str:
    what = reply.request.text.strip() or reply.request.emoji or reply.emoji
    return f"{reply.style or 'sticker'} sticker: {what}"


def queue_text(position: int) -> str | None:
    if position > 0:
        return f"⏳ #{position} in line"
    return None


class ProgressNotice:
    """Shows "⏳ #N in line" on the deferred response while a request waits.

    Updates run in one background task so the engine never waits on Discord; only the
    newest position is shown, and `settle()` lets a pending edit finish before the final reply.
    """

    def __init__(self, interaction: discord.Interaction) -> None:
        self._interaction = interaction
        self._wanted: str | None = None
        self._shown: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def update(self, position: int) -> None:
        text = queue_text(position)
        if self._closed or text is None or text == self._wanted:
            return
        self._wanted = text
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self._closed and self._wanted is not None and self._wanted != self._shown:
            text = self._wanted
            try:
                await self._interaction.edit_original_response(content=text)
            except discord.HTTPException as exc:
                log.debug("queue notice not shown: %s %s", exc.status, exc.code)
                return
            self._shown = text

    async def settle(self, within_s: float = 5.0) -> None:
        self._closed = True
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(self._task, within_s)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()


async def send_reply(interaction: discord.Interaction, reply: StickerReply, view_for: ViewFactory) -> bool:
    """Turn a deferred interaction into its result: stickers + footer + buttons, or a private error.

    The loading message is edited in place; when that message is gone or Discord fails, a
    follow-up carries the stickers instead. Returns whether the user got an answer.
    """
    if not reply.ok or not reply.stickers:
        message = reply.error.message if reply.error is not None else errors.GENERIC_FAILURE
        return await errors.tell(interaction, message)
    content = footer(reply)
    view = view_for(reply.record_id, len(reply.stickers)) if reply.record_id else None
    try:
        await interaction.edit_original_response(
            content=content,
            attachments=sticker_files(reply.stickers, alt_text(reply)),
            view=view or discord.utils.MISSING,
        )
        return True
    except discord.HTTPException as exc:
        if exc.code == errors.UNKNOWN_INTERACTION:
            log.info("interaction %s expired before its stickers were ready", interaction.id)
            return False
        log.warning("editing the reply failed (%s %s); sending a follow-up", exc.status, exc.code)
    try:
        await interaction.followup.send(
            content, files=sticker_files(reply.stickers, alt_text(reply)), view=view or discord.utils.MISSING
        )
        return True
    except discord.HTTPException as exc:
        log.warning("the follow-up with stickers failed too: %s %s", exc.status, exc.code)
        return await errors.tell(interaction, errors.describe(exc))
