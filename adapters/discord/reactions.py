"""Emoji reactions → a sticker reply with the server's character showing that expression.

Only Unicode emoji from the core's table count (custom emoji and unknown ones are ignored
quietly), never reactions by bots or by this bot, and only in channels where reaction stickers
are on (the core refuses the others). The same emoji on the same message is answered once.
Failures are logged, never shown: nobody asked the bot anything, so nobody is waiting for an error.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

import discord

from adapters.discord import errors
from adapters.discord.buttons import sticker_view
from adapters.discord.context import PLATFORM, DiscordContext
from adapters.discord.render import alt_text, footer, sticker_files
from bot.types import RequestKind, StickerRequest

log = logging.getLogger(__name__)

REPEAT_WINDOW_S = 600.0
MAX_REMEMBERED = 2000


class ReactionReplier:
    def __init__(self, ctx: DiscordContext) -> None:
        self._ctx = ctx
        self._answered: OrderedDict[tuple[int, str], float] = OrderedDict()

    def _should_skip(self, client: discord.Client, payload: discord.RawReactionActionEvent) -> str | None:
        """Why this reaction gets no sticker (None: it gets one)."""
        if payload.guild_id is None:
            return "not in a server"
        if client.user is not None and payload.user_id == client.user.id:
            return "own reaction"
        if payload.member is not None and payload.member.bot:
            return "a bot's reaction"
        if payload.emoji.is_custom_emoji() or not payload.emoji.name:
            return "custom emoji"
        if self._ctx.service.expression_for(payload.emoji.name) is None:
            return "emoji not in the table"
        if self._ctx.inflight.closing:
            return "shutting down"
        return None

    def _first_time(self, message_id: int, emoji: str) -> bool:
        now = time.monotonic()
        while self._answered and next(iter(self._answered.values())) < now - REPEAT_WINDOW_S:
            self._answered.popitem(last=False)
        key = (message_id, emoji.replace("\ufe0f", ""))
        if key in self._answered:
            return False
        self._answered[key] = now
        if len(self._answered) > MAX_REMEMBERED:
            self._answered.popitem(last=False)
        return True

    async def handle(self, client: discord.Client, payload: discord.RawReactionActionEvent) -> None:
        reason = self._should_skip(client, payload)
        guild_id, emoji = payload.guild_id, payload.emoji.name
        if reason is not None or guild_id is None or emoji is None:
            log.debug("reaction ignored: %s", reason)
            return
        if not self._first_time(payload.message_id, emoji):
            return
        async with self._ctx.inflight.track():
            await self._reply(client, payload, emoji)

    async def _reply(
        self, client: discord.Client, payload: discord.RawReactionActionEvent, emoji: str
    ) -> None:
        request = StickerRequest(
            platform=PLATFORM,
            user_id=str(payload.user_id),
            conversation_id=str(payload.channel_id),
            server_id=str(payload.guild_id),
            kind=RequestKind.REACTION,
            emoji=emoji,
            routing={"message_id": payload.message_id},
        )
        reply = await self._ctx.service.handle(request)
        if not reply.ok or not reply.stickers:
            log.info("no reaction sticker: %s", reply.error.kind if reply.error else "empty reply")
            return
        channel = client.get_partial_messageable(payload.channel_id, guild_id=payload.guild_id)
        reference = discord.MessageReference(
            message_id=payload.message_id,
            channel_id=payload.channel_id,
            guild_id=payload.guild_id,
            fail_if_not_exists=False,  # a deleted message: post without the link
        )
        view = sticker_view(reply.record_id, len(reply.stickers)) if reply.record_id else None
        try:
            await channel.send(
                footer(reply),
                files=sticker_files(reply.stickers, alt_text(reply)),
                view=view or discord.utils.MISSING,
                reference=reference,
                mention_author=False,
            )
        except discord.HTTPException as exc:
            if errors.is_gone(exc):
                log.info("reaction sticker dropped: channel or message gone (%s)", exc.code)
            else:
                log.warning("reaction sticker not sent: %s %s", exc.status, exc.code)
