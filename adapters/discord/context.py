"""What every handler needs: the core service, the config, and the in-flight tracker for a clean stop."""

from __future__ import annotations

from dataclasses import dataclass, field

import discord

from bot import messages
from bot.config import AppConfig, DiscordConfig
from bot.inflight import InFlight
from bot.types import RequestKind, Scope, StickerFormat, StickerRequest, StickerServiceAPI

PLATFORM = "discord"
SHUTTING_DOWN = messages.SHUTTING_DOWN


@dataclass
class DiscordContext:
    service: StickerServiceAPI
    config: DiscordConfig
    app_config: AppConfig
    inflight: InFlight = field(default_factory=lambda: InFlight("discord handler"))


def context_of(interaction: discord.Interaction) -> DiscordContext:
    return interaction.client.ctx  # type: ignore[attr-defined]


def server_scope(guild_id: int) -> Scope:
    return Scope(PLATFORM, str(guild_id))


def channel_scope(guild_id: int, channel_id: int) -> Scope:
    return Scope(PLATFORM, str(guild_id), str(channel_id))


def scope_of(interaction: discord.Interaction) -> Scope:
    """The server (or, in DMs, the private channel) an interaction happened in."""
    if interaction.guild_id is not None:
        return server_scope(interaction.guild_id)
    return Scope(PLATFORM, str(interaction.channel_id))


def request_from(
    interaction: discord.Interaction,
    *,
    kind: RequestKind,
    text: str = "",
    style: str | None = None,
    count: int | None = None,
    seed: int | None = None,
    emoji: str | None = None,
    parent_id: str | None = None,
    formats: frozenset[StickerFormat] = frozenset({StickerFormat.WEBP}),
) -> StickerRequest:
    return StickerRequest(
        platform=PLATFORM,
        user_id=str(interaction.user.id),
        conversation_id=str(interaction.channel_id),
        server_id=str(interaction.guild_id) if interaction.guild_id is not None else None,
        text=text,
        kind=kind,
        style=style,
        count=count,
        seed=seed,
        emoji=emoji,
        parent_id=parent_id,
        formats=formats,
        routing={"interaction_id": interaction.id},
    )
