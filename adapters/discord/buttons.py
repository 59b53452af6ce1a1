"""Persistent buttons under every result. Their custom ids carry the core's record id, so a click
works after a restart: discord.py matches the id against each DynamicItem's template, no
in-memory view is needed. Ids look like `sb:reroll:<record>` (well under Discord's 100 chars).
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any

import discord

from adapters.discord import errors
from adapters.discord.context import SHUTTING_DOWN, context_of, request_from
from adapters.discord.flows import sticker_interaction
from adapters.discord.server_sticker import (
    ServerStickerUnavailable,
    server_png,
    sticker_name,
    sticker_tags,
)
from bot import messages
from bot.types import RequestKind

log = logging.getLogger(__name__)

RECORD = r"(?P<record>[A-Za-z0-9_-]{1,16})"

NO_SERVER = "Server stickers can only be added inside a server."
NEEDS_MANAGE_EXPRESSIONS = "Only members with the Manage Expressions permission can add server stickers."
BOT_NEEDS_MANAGE_EXPRESSIONS = "I need the Manage Expressions permission to add server stickers here."


class RerollButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"sb:reroll:{RECORD}"):
    def __init__(self, record_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=messages.REROLL_LABEL,
                emoji=messages.REROLL_EMOJI,
                style=discord.ButtonStyle.secondary,
                custom_id=f"sb:reroll:{record_id}",
            ),
            row=0,
        )
        self.record_id = record_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RerollButton:
        return cls(match["record"])

    async def callback(self, interaction: discord.Interaction) -> None:
        request = request_from(interaction, kind=RequestKind.REROLL, parent_id=self.record_id)
        await sticker_interaction(interaction, request, sticker_view)


class MoreButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"sb:more:{RECORD}"):
    def __init__(self, record_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=messages.BUTTON_MORE,
                style=discord.ButtonStyle.secondary,
                custom_id=f"sb:more:{record_id}",
            ),
            row=0,
        )
        self.record_id = record_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> MoreButton:
        return cls(match["record"])

    async def callback(self, interaction: discord.Interaction) -> None:
        request = request_from(interaction, kind=RequestKind.VARIATIONS, parent_id=self.record_id)
        await sticker_interaction(interaction, request, sticker_view)


class AddToServerButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"sb:add:{RECORD}:(?P<index>[0-3])"
):
    """📌 Add candidate `index` of a result to the server's own stickers."""

    def __init__(self, record_id: str, index: int, *, of: int = 1) -> None:
        label = "Add to server stickers" if of == 1 else f"Add #{index + 1}"
        super().__init__(
            discord.ui.Button(
                label=label,
                emoji="📌",
                style=discord.ButtonStyle.primary,
                custom_id=f"sb:add:{record_id}:{index}",
            ),
            row=0 if of == 1 else 1,
        )
        self.record_id = record_id
        self.index = index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> AddToServerButton:
        return cls(match["record"], int(match["index"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        ctx = context_of(interaction)
        refusal = self._refusal(interaction)
        if ctx.inflight.closing:
            refusal = SHUTTING_DOWN
        if refusal is not None:
            await errors.tell(interaction, refusal)
            return
        async with ctx.inflight.track():
            if not await errors.defer(interaction, ephemeral=True):
                return
            text = await self._add(interaction)
            await errors.tell(interaction, text, deferred_privately=True)

    @staticmethod
    def _refusal(interaction: discord.Interaction) -> str | None:
        if interaction.guild_id is None:
            return NO_SERVER
        if not interaction.permissions.manage_expressions:
            return NEEDS_MANAGE_EXPRESSIONS
        if not interaction.app_permissions.manage_expressions:
            return BOT_NEEDS_MANAGE_EXPRESSIONS
        return None

    async def _add(self, interaction: discord.Interaction) -> str:
        ctx = context_of(interaction)
        record = await ctx.service.record(self.record_id)
        if record is None:
            return messages.STICKER_GONE
        base = request_from(interaction, kind=RequestKind.COMMAND)
        try:
            png = await server_png(ctx.service, record, self.index, base)
        except ServerStickerUnavailable as exc:
            return exc.message
        guild = interaction.guild or await interaction.client.fetch_guild(interaction.guild_id or 0)
        name = sticker_name(record)
        try:
            await guild.create_sticker(
                name=name,
                description=f"{record.style} sticker made with /sticker",
                emoji=sticker_tags(record.emoji),
                file=discord.File(io.BytesIO(png), filename="sticker.png"),
                reason=f"Added by {interaction.user} with Stickerbot",
            )
        except discord.HTTPException as exc:
            log.info("adding a server sticker failed: %s %s", exc.status, exc.code)
            return errors.describe(exc)
        return f"📌 Added **{name}** to this server's stickers."


def sticker_view(record_id: str, count: int) -> discord.ui.View:
    """Reroll · 4 more · 📌 Add (one add button per candidate when there are several)."""
    view = discord.ui.View(timeout=None)
    view.add_item(RerollButton(record_id))
    view.add_item(MoreButton(record_id))
    for index in range(max(1, min(count, 4))):
        view.add_item(AddToServerButton(record_id, index, of=count))
    return view


DYNAMIC_ITEMS = (RerollButton, MoreButton, AddToServerButton)
