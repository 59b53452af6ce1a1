"""Telegram adapter (python-telegram-bot 22): commands, inline mode, buttons, packs and reactions.

The composition root imports this package by name and calls `create_adapter`.
"""

from __future__ import annotations

from adapters.telegram.app import TelegramAdapter, TelegramConfigError
from adapters.telegram.context import AdapterOptions
from bot.config import AppConfig, TelegramConfig
from bot.types import Adapter, StickerServiceAPI

__all__ = ["AdapterOptions", "TelegramAdapter", "TelegramConfigError", "create_adapter"]


def create_adapter(config: TelegramConfig, service: StickerServiceAPI, app_config: AppConfig) -> Adapter:
    options = AdapterOptions(
        stop_grace_s=app_config.limits.shutdown_grace_s, inline_animated=config.inline_animated
    )
    return TelegramAdapter(config, service, app_config, options=options)
