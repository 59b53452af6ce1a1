"""The path every slow interaction takes: refuse while stopping, defer at once, then do the work."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from adapters.discord import errors
from adapters.discord.context import SHUTTING_DOWN, context_of
from adapters.discord.render import ViewFactory, send_reply, show_on_response
from bot import messages
from bot.progress import QueueNotice
from bot.types import StickerReply, StickerRequest

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def sticker_interaction(
    interaction: discord.Interaction, request: StickerRequest, view_for: ViewFactory
) -> None:
    """Defer (inside Discord's 3 s), show the place in line, then post the stickers or a private error."""

    async def work() -> None:
        ctx = context_of(interaction)
        notice = QueueNotice(show_on_response(interaction))
        reply: StickerReply | None = None
        try:
            reply = await ctx.service.handle(request, on_position=notice.update)
        except Exception:
            log.exception("the sticker service failed on request %s", request.request_id)
        finally:
            await notice.close()
        if reply is None:
            await errors.tell(interaction, messages.FAILED)
            return
        await send_reply(interaction, reply, view_for)

    await deferred(interaction, work)


async def deferred(
    interaction: discord.Interaction, work: Callable[[], Awaitable[None]], *, ephemeral: bool = False
) -> None:
    """Run `work` after deferring, counted as in flight so a stop lets it finish; while the bot
    stops, the user is told so instead. Nothing happens when the interaction already expired."""
    ctx = context_of(interaction)
    if ctx.inflight.closing:
        await errors.tell(interaction, SHUTTING_DOWN)
        return
    async with ctx.inflight.track():
        if await errors.defer(interaction, ephemeral=ephemeral):
            await work()
