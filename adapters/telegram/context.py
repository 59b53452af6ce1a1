"""What every handler needs, built once per adapter: the service, settings, storage and the bot's name."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.telegram.store import TelegramStore
from adapters.telegram.uploads import StickerUploads
from bot.config import TelegramConfig
from bot.inflight import InFlight
from bot.types import StickerServiceAPI

PLATFORM = "telegram"


@dataclass
class AdapterOptions:
    """Tuning knobs with production defaults; tests shrink the timings and lift the flood limits."""

    poll_timeout_s: float = 10.0  # getUpdates long-poll
    chat_action_every_s: float = 4.0  # Telegram shows a chat action for about 5 s
    inline_debounce_s: float = 0.35  # wait this long for a newer keystroke before generating
    inline_upload_margin_s: float = 1.5  # deadline share kept for uploading and answering
    inline_first_alone: bool = True  # ask for the first candidate alone, then the rest (answers under load)
    inline_animated: bool = False  # also the first candidate animated (WEBM); opt-in until it fits on CPUs
    overall_max_rate: float = 30.0  # Bot API flood limits (AIORateLimiter)
    group_max_rate: float = 20.0  # per group, per minute
    rate_limit_retries: int = 3
    connection_pool_size: int = 32  # httpcore's pool scans every connection per request
    pool_timeout_s: float = 30.0  # waiting for a free connection under load is normal, not an error
    read_timeout_s: float = 10.0
    write_timeout_s: float = 20.0
    stop_grace_s: float = 10.0
    pack_prefix: str = "stickers"
    teach_settle_s: float = 2.0  # after /teach: photos are sent on once none arrived for this long


@dataclass
class TelegramContext:
    service: StickerServiceAPI
    config: TelegramConfig
    options: AdapterOptions
    store: TelegramStore
    uploads: StickerUploads
    bot_username: str = ""
    tasks: InFlight = field(default_factory=lambda: InFlight("telegram background"))
    """Work that outlives its handler (late inline uploads); `stop` waits for it, bounded."""
