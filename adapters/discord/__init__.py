"""Discord adapter: /sticker with buttons, reaction stickers, server styles and server stickers.

The composition root imports this package by name and calls `create_adapter`.
"""

from __future__ import annotations

from adapters.discord.adapter import DiscordAdapter
from bot.config import AppConfig, DiscordConfig
from bot.types import Adapter, StickerServiceAPI

__all__ = ["DiscordAdapter", "create_adapter"]


def create_adapter(config: DiscordConfig, service: StickerServiceAPI, app_config: AppConfig) -> Adapter:
    return DiscordAdapter(config, service, app_config)
