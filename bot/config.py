"""Typed configuration: one section per component, loaded from YAML and validated at start-up.

`config.example.yaml` documents every key. Secrets (bot tokens) come from the environment
(`STICKERBOT_TELEGRAM_TOKEN`, `STICKERBOT_DISCORD_TOKEN`) or the file, and are never logged:
their dataclass fields are `repr=False`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from generator.options import EngineConfig, ModelConfig

__all__ = ["AppConfig", "EngineConfig", "ModelConfig"]


@dataclass
class StorageConfig:
    url: str = "sqlite:///data/stickerbot.db"
    cache_dir: str = "data/cache"
    cache_max_mb: int = 512


@dataclass
class LimitsConfig:
    user_per_minute: int = 10
    server_per_minute: int = 60
    max_in_flight: int = 8  # requests handed to the engine at once; the rest wait round-robin per server


@dataclass
class SafetyConfig:
    block_list: list[str] = field(default_factory=list)  # extra words, added to the built-in list
    block_list_file: str | None = None
    negative_prompt: str = "nsfw, nude, gore, blood, text, watermark, signature, blurry, lowres"


@dataclass
class WebConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    default_room: str = "lobby"
    access_token: str | None = field(default=None, repr=False)
    max_message_chars: int = 2000
    messages_per_10s: int = 20
    history_limit: int = 200


@dataclass
class TelegramWebhookConfig:
    url: str | None = None
    listen: str = "127.0.0.1"
    port: int = 8443
    secret_token: str | None = field(default=None, repr=False)


@dataclass
class TelegramConfig:
    enabled: bool = False
    token: str | None = field(default=None, repr=False)
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    storage_chat_id: int | None = None
    inline_deadline_s: float = 6.0
    webhook: TelegramWebhookConfig = field(default_factory=TelegramWebhookConfig)


@dataclass
class DiscordConfig:
    enabled: bool = False
    token: str | None = field(default=None, repr=False)
    api_base_url: str | None = None  # e.g. http://127.0.0.1:9999/api/v10
    gateway_url: str | None = None  # e.g. ws://127.0.0.1:9999/gateway
    guild_ids: list[int] = field(default_factory=list)
    shards: int | None = None  # None = one shard; an int = AutoShardedClient with that many shards


@dataclass
class MetricsConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9108


@dataclass
class LoggingConfig:
    level: str = "INFO"
    json: bool = False


@dataclass
class AppConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    web: WebConfig = field(default_factory=WebConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    discord: DiscordConfig = field(default_factory=DiscordConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    source: Path | None = None  # the file it was loaded from, if any


class ConfigError(Exception):
    """A config file problem, phrased for the operator (names the file and the key)."""
