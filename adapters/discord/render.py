"""Rendering the core's neutral replies as Discord messages: WebP attachments, a footer, buttons."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable

import discord

from adapters.discord import errors
from bot.animation import FILE_SUFFIX
from bot.messages import failure_text
from bot.progress import Show
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
            io.BytesIO(s.data),
            filename=f"sticker-{s.seed}-{i + 1}.{FILE_SUFFIX.get(s.format, 'webp')}",
            description=description[:1024],
        )
        for i, s in enumerate(stickers)
    ]


def alt_text(reply: StickerReply) -> str:
    what = reply.request.text.strip() or reply.request.emoji or reply.emoji
    return f"{reply.style or 'sticker'} sticker: {what}"


def show_on_response(interaction: discord.Interaction) -> Show:
    """Shows a queue notice ("⏳ #2 in line") on the deferred response, in place of "thinking…"."""

    async def show(text: str) -> bool:
        try:
            await interaction.edit_original_response(content=text)
        except discord.HTTPException as exc:
            log.debug("queue notice not shown: %s %s", exc.status, exc.code)
            return False
        return True

    return show


async def send_reply(interaction: discord.Interaction, reply: StickerReply, view_for: ViewFactory) -> bool:
    """Turn a deferred interaction into its result: stickers + footer + buttons, or a private error.

    The loading message is edited in place; when that message is gone or Discord fails, a
    follow-up carries the stickers instead. Returns whether the user got an answer.
    """
    failure = failure_text(reply)
    if failure is not None:
        return await errors.tell(interaction, failure)
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
