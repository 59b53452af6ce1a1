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
from adapters.discord.context import context_of, request_from
from adapters.discord.flows import deferred, sticker_interaction
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
REDO_KINDS = {"reroll": RequestKind.REROLL, "more": RequestKind.VARIATIONS}

NO_SERVER = "Server stickers can only be added inside a server."
NEEDS_MANAGE_EXPRESSIONS = "Only members with the Manage Expressions permission can add server stickers."
BOT_NEEDS_MANAGE_EXPRESSIONS = "I need the Manage Expressions permission to add server stickers here."


class RedoButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"sb:(?P<action>reroll|more):{RECORD}"
):
    """🔄 Reroll (same words, new seed) or 4 more (variations) of a stored result."""

    def __init__(self, action: str, record_id: str) -> None:
        reroll = action == "reroll"
        super().__init__(
            discord.ui.Button(
                label=messages.REROLL_LABEL if reroll else messages.BUTTON_MORE,
                emoji=messages.REROLL_EMOJI if reroll else None,
                style=discord.ButtonStyle.secondary,
                custom_id=f"sb:{action}:{record_id}",
            ),
            row=0,
        )
        self.action = action
        self.record_id = record_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RedoButton:
        return cls(match["action"], match["record"])

    async def callback(self, interaction: discord.Interaction) -> None:
        request = request_from(interaction, kind=REDO_KINDS[self.action], parent_id=self.record_id)
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
        refusal = self._refusal(interaction)
        if refusal is not None:
            await errors.tell(interaction, refusal)
            return

        async def add() -> None:
            await errors.tell(interaction, await self._add(interaction), deferred_privately=True)

        await deferred(interaction, add, ephemeral=True)

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


class AnimateButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"sb:anim:{RECORD}:(?P<index>[0-3])"
):
    """🎬 Animate candidate `index` of a result: that exact sticker, brought to life (a GIF)."""

    def __init__(self, record_id: str, index: int, *, of: int = 1) -> None:
        label = messages.BUTTON_ANIMATE.split(" ", 1)[1] if of == 1 else f"#{index + 1}"
        super().__init__(
            discord.ui.Button(
                label=label,
                emoji="🎬",
                style=discord.ButtonStyle.secondary,
                custom_id=f"sb:anim:{record_id}:{index}",
            ),
            row=0 if of == 1 else 2,
        )
        self.record_id = record_id
        self.index = index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> AnimateButton:
        return cls(match["record"], int(match["index"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        record = await context_of(interaction).service.record(self.record_id)
        seed = record.seed + self.index if record is not None else None  # the seed names the candidate
        request = request_from(interaction, kind=RequestKind.ANIMATE, parent_id=self.record_id, seed=seed)
        await sticker_interaction(interaction, request, sticker_view)


def sticker_view(record_id: str, count: int) -> discord.ui.View:
    """Reroll · 4 more · 📌 Add · 🎬 Animate (one add and one animate button per candidate when there
    are several)."""
    view = discord.ui.View(timeout=None)
    view.add_item(RedoButton("reroll", record_id))
    view.add_item(RedoButton("more", record_id))
    for index in range(max(1, min(count, 4))):
        view.add_item(AddToServerButton(record_id, index, of=count))
    for index in range(max(1, min(count, 4))):
        view.add_item(AnimateButton(record_id, index, of=count))
    return view


DYNAMIC_ITEMS = (RedoButton, AddToServerButton, AnimateButton)
