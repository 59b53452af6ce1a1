"""Slash commands: /sticker, /style list|set|preview, /reactions on|off, /help.

Permission rules are checked here in code (the member's resolved permissions arrive with the
interaction); `default_permissions` only hides commands in Discord's UI and server admins can
change it, so it is never relied on.
"""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands

from adapters.discord import errors
from adapters.discord.buttons import sticker_view
from adapters.discord.context import (
    channel_scope,
    context_of,
    request_from,
    scope_of,
    server_scope,
)
from adapters.discord.flows import deferred, sticker_interaction
from adapters.discord.render import sticker_files
from bot import messages
from bot.prompts import MAX_SEED
from bot.types import MAX_COUNT, MAX_PROMPT_CHARS, RequestKind, ServiceError, StickerFile, StickerReply

log = logging.getLogger(__name__)

PREVIEW_EMOJI = ("😂", "😍", "😢", "😡", "😎", "🤔")
PREVIEW_SIZE = 4
ONLY_IN_SERVERS = "That only works inside a server."
HELP = "\n".join(
    (
        "**Stickers on demand**",
        f"`/sticker` — draw a sticker, e.g. `eating otter`. {messages.options_hint(lambda o: f'`{o}`')}",
        "`/style list` shows the styles, `/style preview` shows samples, "
        "`/style set` picks the server's style (Manage Server).",
        "`/reactions on|off` — answer emoji reactions in this channel with stickers (Manage Channels).",
        f"Under each sticker: {messages.BUTTON_REROLL}, {messages.BUTTON_MORE}, 📌 Add to server stickers.",
        "React to a message with an emoji like 😂 and I answer with a matching sticker.",
    )
)


async def style_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete: styles whose name or description contains what was typed (at most 25)."""
    needle = current.strip().lower()
    choices = []
    for style in context_of(interaction).service.styles():
        if needle in style.name.lower() or needle in style.description.lower():
            label = f"{style.name} — {style.description}" if style.description else style.name
            choices.append(app_commands.Choice(name=label[:100], value=style.name))
    return choices[:25]


@app_commands.command(name="sticker", description="Make a sticker from a few words")
@app_commands.describe(
    prompt="What the sticker shows, e.g. 'eating ramen' or 'waving hello'",
    style="Art style (default: this server's style)",
    count="How many candidates to draw (1-4)",
    seed="Repeat a result: the same words, style and seed draw the same sticker",
)
@app_commands.autocomplete(style=style_choices)
async def sticker_command(
    interaction: discord.Interaction,
    prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS],  # Discord enforces the core's limit in the UI
    style: str | None = None,
    count: app_commands.Range[int, 1, MAX_COUNT] | None = None,
    seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
) -> None:
    request = request_from(
        interaction, kind=RequestKind.COMMAND, text=prompt, style=style, count=count, seed=seed
    )
    await sticker_interaction(interaction, request, sticker_view)


class StyleCommands(app_commands.Group, name="style", description="Sticker styles for this server"):
    @app_commands.command(name="list", description="Show the available sticker styles")
    async def list_styles(self, interaction: discord.Interaction) -> None:
        ctx = context_of(interaction)
        current = await ctx.service.default_style(scope_of(interaction))
        lines = ["**Sticker styles**"]
        for style in ctx.service.styles():
            mark = " ← this server's style" if style.name == current else ""
            lines.append(f"• **{style.name}** — {style.description}{mark}")
        lines.append("-# Use one with `/sticker prompt:… style:…`; admins set the default with `/style set`.")
        await errors.tell(interaction, "\n".join(lines)[:2000])

    @app_commands.command(name="set", description="Set this server's default sticker style (Manage Server)")
    @app_commands.describe(name="The style to use by default")
    @app_commands.autocomplete(name=style_choices)
    async def set_style(self, interaction: discord.Interaction, name: str) -> None:
        if interaction.guild_id is None:
            await errors.tell(interaction, ONLY_IN_SERVERS)
            return
        ctx = context_of(interaction)
        try:
            confirmation = await ctx.service.set_default_style(
                server_scope(interaction.guild_id), name, is_admin=interaction.permissions.manage_guild
            )
        except ServiceError as exc:
            await errors.tell(interaction, exc.error.message)
            return
        try:
            await interaction.response.send_message(confirmation)
        except discord.HTTPException as exc:
            log.info("style confirmation not delivered: %s %s", exc.status, exc.code)

    @app_commands.command(name="preview", description="See sample stickers in a style")
    @app_commands.describe(name="The style to preview")
    @app_commands.autocomplete(name=style_choices)
    async def preview_style(self, interaction: discord.Interaction, name: str) -> None:
        await deferred(interaction, lambda: _preview(interaction, name))


async def _preview(interaction: discord.Interaction, name: str) -> None:
    """A sheet of the style's character with a few expressions (asked for as "😂" and so on, like
    a command, so a channel with reaction stickers turned off can still preview)."""
    ctx = context_of(interaction)
    emoji = [e for e in PREVIEW_EMOJI if ctx.service.expression_for(e) is not None][:PREVIEW_SIZE]
    requests = [
        request_from(interaction, kind=RequestKind.COMMAND, text=e, style=name, count=1) for e in emoji
    ]
    results = await asyncio.gather(*(ctx.service.handle(r) for r in requests), return_exceptions=True)
    replies = [r for r in results if isinstance(r, StickerReply)]
    shown = [(e, r) for e, r in zip(emoji, results, strict=True) if isinstance(r, StickerReply) and r.ok]
    stickers: list[StickerFile] = [r.stickers[0] for _e, r in shown if r.stickers]
    if not stickers:
        failed = next((r.error for r in replies if r.error is not None), None)
        await errors.tell(interaction, failed.message if failed else messages.FAILED)
        return
    style = shown[0][1].style or name  # the canonical name, never the raw user input
    content = f"-# {style} · preview · " + " ".join(e for e, _r in shown)
    try:
        await interaction.edit_original_response(
            content=content, attachments=sticker_files(tuple(stickers), f"{style} style preview")
        )
    except discord.HTTPException as exc:
        await errors.tell(interaction, errors.describe(exc))


class ReactionCommands(
    app_commands.Group,
    name="reactions",
    description="Sticker replies to emoji reactions in this channel",
    guild_only=True,
    default_permissions=discord.Permissions(manage_channels=True),
):
    @app_commands.command(name="on", description="Reply to emoji reactions in this channel with stickers")
    async def turn_on(self, interaction: discord.Interaction) -> None:
        await _set_reactions(interaction, "on")

    @app_commands.command(name="off", description="Stop replying to emoji reactions in this channel")
    async def turn_off(self, interaction: discord.Interaction) -> None:
        await _set_reactions(interaction, "off")


async def _set_reactions(interaction: discord.Interaction, value: str) -> None:
    if interaction.guild_id is None or interaction.channel_id is None:
        await errors.tell(interaction, ONLY_IN_SERVERS)
        return
    perms = interaction.permissions
    ctx = context_of(interaction)
    try:
        await ctx.service.set_option(
            channel_scope(interaction.guild_id, interaction.channel_id),
            "reactions",
            value,
            is_admin=perms.manage_guild or perms.manage_channels,
        )
    except ServiceError as exc:
        await errors.tell(interaction, exc.error.message)
        return
    text = (
        "Reaction stickers are **on** here: react with 😂, 😍, 😢… and I'll answer with a sticker."
        if value == "on"
        else "Reaction stickers are **off** in this channel."
    )
    try:
        await interaction.response.send_message(text)
    except discord.HTTPException as exc:
        log.info("reactions confirmation not delivered: %s %s", exc.status, exc.code)


@app_commands.command(name="help", description="How to make stickers with this bot")
async def help_command(interaction: discord.Interaction) -> None:
    await errors.tell(interaction, HELP)


async def on_tree_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
    """Anything a command did not handle: log it, and give the user a short private answer."""
    log.error("slash command failed", exc_info=error)
    await errors.tell(interaction, errors.GENERIC_FAILURE)


def register(tree: app_commands.CommandTree) -> None:
    tree.add_command(sticker_command)
    tree.add_command(StyleCommands())
    tree.add_command(ReactionCommands())
    tree.add_command(help_command)
    tree.on_error = on_tree_error  # type: ignore[method-assign]
