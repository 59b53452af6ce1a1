"""Typed configuration: one pydantic model per component, loaded from YAML and validated at start-up.

`config.example.yaml` shows every key; docs/running/config.md is generated from these models.
Secrets (bot tokens) come from the environment (`STICKERBOT_TELEGRAM_TOKEN`, …, read by
pydantic-settings) or the file, and are never shown: their fields are `repr=False`.
Validation errors become one line naming the file and the key (see `bot.config_errors`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import stat
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.config_errors import ConfigError, describe_validation_error, known_keys
from generator.options import EngineConfig, ModelConfig, Positive, Section, invalid
from generator.styles import SHIPPED_STYLES_DIR

__all__ = [
    "AppConfig",
    "ConfigError",
    "EngineConfig",
    "EnvSettings",
    "ModelConfig",
    "load_config",
    "validate_config",
]

log = logging.getLogger(__name__)


class StorageConfig(Section):
    url: str = Field(
        "sqlite:///data/stickerbot.db", description="sqlite:///path/to/file.db or postgresql://user@host/db"
    )
    cache_dir: str = Field("data/cache", description="generated stickers, content-addressed")
    cache_max_mb: Positive = Field(
        512, description="the cache deletes least recently used stickers beyond this"
    )
    keep_records_days: float = Field(
        30.0, ge=0, description="results older than this can no longer be rerolled (0 = keep forever)"
    )
    pool_size: Positive = Field(
        10, description="PostgreSQL connections per process (a pool: requests run side by side)"
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise invalid("must be sqlite:///path/to/file.db or postgresql://user@host/db")
        return value


class LimitsConfig(Section):
    user_per_minute: Positive = Field(10, description="sustained requests per user per minute …")
    server_per_minute: Positive = Field(
        60, description="the same for a whole server (guild / group chat / web room)"
    )
    max_in_flight: Positive = Field(
        8, description="requests handed to the engine at once; the rest wait round-robin per server"
    )
    user_burst: Positive = Field(
        5, description="requests a user may send back to back before the rate applies"
    )
    server_burst: Positive = Field(30, description="the burst for a whole server")
    max_waiting: Positive = Field(500, description='waiting requests before new ones are told "busy"')
    shutdown_grace_s: float = Field(
        20.0, ge=0, description="on SIGINT/SIGTERM, how long in-flight requests may finish"
    )
    request_deadline_s: float = Field(
        120.0, gt=0, description='one request end to end (waiting included); then "took too long"'
    )
    diffusion_animation_weight: float = Field(
        4.0, ge=1, description="requests a video-diffusion animation counts as (a preset animation is one)"
    )


class SafetyConfig(Section):
    block_list: list[str] = Field(default_factory=list, description="extra words, added to the built-in list")
    block_list_file: str | None = Field(
        None, description="a text file with one blocked word/phrase per line (# comments)"
    )
    negative_prompt: str | None = Field(
        None,
        description="deprecated, has no effect: SDXL-Turbo draws without guidance, where negative prompts "
        "are ignored; the prompt filter is what refuses unsafe requests",
    )


class WebConfig(Section):
    enabled: bool = True
    host: str = Field("127.0.0.1", description="bind address; keep 127.0.0.1 unless behind a reverse proxy")
    port: int = Field(8080, ge=0, le=65535, description="TCP port of the chat room")
    default_room: str = "lobby"
    access_token: str | None = Field(
        None, repr=False, description="secret: set STICKERBOT_WEB_ACCESS_TOKEN to require ?token=… to join"
    )
    admin_token: str | None = Field(
        None,
        repr=False,
        description="secret: set STICKERBOT_WEB_ADMIN_TOKEN; only its holders change room styles",
    )
    max_message_chars: Positive = 2000
    messages_per_10s: Positive = Field(20, description="chat messages per connection per 10 seconds")
    history_limit: int = Field(200, ge=0, description="messages kept per room")
    # Hardening (docs/running/limits-and-proxy.md): in the web room limits count per client address.
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names served; [] = the bind address, localhost, 127.0.0.1, ::1",
    )
    trusted_proxy_header: str | None = Field(
        None,
        description="header with the client address, e.g. X-Forwarded-For (believed from trusted_proxies)",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list, description="addresses or networks (CIDR) of your reverse proxies"
    )
    max_connections: Positive = Field(1000, description="open sockets in all (idle, HTTP and WebSocket)")
    max_connections_per_address: Positive = Field(20, description="WebSocket connections from one address")
    max_connections_per_room: Positive = Field(300, description="connections in one room")
    max_sessions_per_address: Positive = Field(
        8, description="distinct sessions connected at once per address"
    )
    max_rooms_per_address: Positive = Field(8, description="distinct rooms one address is in at once")
    max_pending_per_address: Positive = Field(6, description="stickers on the way for one address")
    header_timeout_s: float = Field(
        10.0, gt=0, description="time to send request headers; idle keep-alive sockets close after it"
    )
    hello_timeout_s: float = Field(10.0, gt=0, description="from the WebSocket upgrade to the hello frame")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise invalid(f"must list addresses or networks (got {network!r})") from None
        return value


class TelegramWebhookConfig(Section):
    url: str | None = Field(None, description="set to use a webhook instead of long polling")
    listen: str = "127.0.0.1"
    port: int = Field(8443, ge=0, le=65535)
    secret_token: str | None = Field(
        None, repr=False, description="secret: STICKERBOT_TELEGRAM_WEBHOOK_SECRET"
    )


class TelegramConfig(Section):
    enabled: bool = Field(False, description="needs STICKERBOT_TELEGRAM_TOKEN")
    token: str | None = Field(None, repr=False, description="secret: prefer STICKERBOT_TELEGRAM_TOKEN")
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    storage_chat_id: int | None = Field(
        None, description="a chat the bot owns, used to upload stickers for inline answers"
    )
    inline_deadline_s: float = Field(
        6.0, gt=0, description="answer inline queries within this time (Telegram drops late ones)"
    )
    inline_animated: bool = Field(
        False,
        description="inline answers also offer the first candidate animated (a video sticker) when it is "
        "ready in time; turn on where stickers are drawn on a GPU (a CPU misses the inline deadline)",
    )
    mode: Literal["polling", "webhook"] | None = Field(
        None,
        description="polling | webhook (null: webhook when webhook.url is set); docs/scaling/shared-state.md",
    )
    webhook: TelegramWebhookConfig = Field(default_factory=TelegramWebhookConfig)


class DiscordConfig(Section):
    enabled: bool = Field(False, description="needs STICKERBOT_DISCORD_TOKEN")
    token: str | None = Field(None, repr=False, description="secret: prefer STICKERBOT_DISCORD_TOKEN")
    api_base_url: str | None = Field(None, description="null = Discord; e.g. http://127.0.0.1:9999/api/v10")
    gateway_url: str | None = Field(None, description="null = Discord; e.g. ws://127.0.0.1:9999/gateway")
    guild_ids: list[int] = Field(
        default_factory=list, description="register slash commands in these guilds instantly (else globally)"
    )
    shards: int | None = Field(
        None, ge=0, description="null = one shard; N = that many shards; 0 = as many as Discord recommends"
    )
    shard_ids: list[int] = Field(
        default_factory=list, description="this process's shards of `shards`, e.g. [0] and [1] (empty = all)"
    )

    @model_validator(mode="after")
    def _shard_ids(self) -> DiscordConfig:
        if self.shard_ids:
            count = self.shards or 0
            if count < 2:
                raise invalid("shard_ids needs discord.shards set to the total shard count (2 or more)")
            if len(set(self.shard_ids)) != len(self.shard_ids) or not all(
                0 <= i < count for i in self.shard_ids
            ):
                raise invalid(f"shard_ids must be distinct shard numbers from 0 to {count - 1}")
        return self


class StateConfig(Section):
    """State shared by several bot processes (docs/scaling/shared-state.md)."""

    url: str | None = Field(
        None,
        repr=False,
        description="redis://host:6379/0 shares limits, admission, room fan-out (null = in process)",
    )
    lease_ttl_s: float = Field(
        15.0, gt=0, description="a killed process's engine slots come back after this long"
    )
    presence_ttl_s: float = Field(
        30.0, gt=0, description="a killed process's room members drop out after this long"
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise invalid("must be redis://host:6379/0, rediss://… or unix:///path (or null)")
        return value


class MetricsConfig(Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535, description="serves http://HOST:PORT/metrics")


with warnings.catch_warnings():  # the `json` key shadows BaseModel's deprecated .json() on purpose
    warnings.filterwarnings("ignore", message='Field name "json"', category=UserWarning)

    class LoggingConfig(Section):
        level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
        json: bool = Field(False, description="true: one JSON object per line (with request_id)")  # type: ignore[assignment]

        @field_validator("level", mode="before")
        @classmethod
        def _upper(cls, value: Any) -> Any:
            return value.upper() if isinstance(value, str) else value


class TeachConfig(Section):
    """Teaching a user's own subject from photos in the chat (docs/using/teach.md)."""

    enabled: bool = Field(False, description="let people teach their own subject (/teach dog + photos)")
    data_dir: str = Field("data/teach", description="photos, training runs and taught LoRAs")
    steps: Positive = Field(400, description="training steps per subject")
    rank: Positive = Field(8, description="LoRA rank of a taught subject")
    learning_rate: float = Field(1e-4, gt=0, le=1, description="training learning rate")
    resolution: int = Field(512, ge=64, le=1024, multiple_of=8, description="training image size")
    checkpoint_every: Positive = Field(50, description="steps between resumable checkpoints")
    min_photos: int = Field(4, ge=1, le=100, description="fewest photos one teach accepts")
    max_photos: int = Field(20, ge=1, le=100, description="most photos one teach accepts")
    max_photo_mb: float = Field(10.0, gt=0, le=25, description="largest photo file accepted")
    min_photo_side: Positive = Field(
        256, description="photos smaller than this on their short side are refused"
    )
    subject_check: bool = Field(
        True, description="refuse photos where nothing stands out or that show something else"
    )
    max_concurrent: Positive = Field(1, description="trainings running at once (fair across servers)")
    per_user_per_day: Positive = Field(3, description="teaches one user may start per 24 hours")
    max_subjects_per_user: Positive = Field(10, description="taught subjects one user may keep")
    keep_photos: bool = Field(False, description="keep the photos after training (default: deleted)")
    python: str | None = Field(
        None, description="interpreter for the training subprocess (default: this one)"
    )


class AppConfig(Section):
    model: ModelConfig = Field(default_factory=ModelConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    safety: SafetyConfig = Field(default_factory=SafetyConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    discord: DiscordConfig = Field(default_factory=DiscordConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    teach: TeachConfig = Field(default_factory=TeachConfig)
    source: Path | None = Field(None, exclude=True, description="the file it was loaded from (not a key)")


# --------------------------------------------------------------------------- environment
ENV_SECRETS = {
    "STICKERBOT_TELEGRAM_TOKEN": "telegram.token",
    "STICKERBOT_DISCORD_TOKEN": "discord.token",
    "STICKERBOT_WEB_ACCESS_TOKEN": "web.access_token",
    "STICKERBOT_WEB_ADMIN_TOKEN": "web.admin_token",
    "STICKERBOT_TELEGRAM_WEBHOOK_SECRET": "telegram.webhook.secret_token",
}


class EnvSettings(BaseSettings):
    """What the environment may set: the config file's path and the secrets (never in repr)."""

    model_config = SettingsConfigDict(env_prefix="STICKERBOT_", extra="ignore", hide_input_in_errors=True)

    config: str | None = None
    telegram_token: str | None = Field(None, repr=False)
    discord_token: str | None = Field(None, repr=False)
    web_access_token: str | None = Field(None, repr=False)
    web_admin_token: str | None = Field(None, repr=False)
    telegram_webhook_secret: str | None = Field(None, repr=False)

    @classmethod
    def read(cls, env: Mapping[str, str] | None = None) -> EnvSettings:
        """From os.environ, or from `env` (tests pass their own mapping)."""
        if env is None:
            return cls()
        prefix = "STICKERBOT_"
        values = {k[len(prefix) :].lower(): v for k, v in env.items() if k.upper().startswith(prefix)}
        return cls.model_validate({k: v for k, v in values.items() if k in cls.model_fields})

    def secrets(self) -> dict[str, str]:
        """{dotted config key: value} for every secret set (non-empty after stripping)."""
        found = {}
        for var, dotted in ENV_SECRETS.items():
            value = getattr(self, var[len("STICKERBOT_") :].lower())
            if value and value.strip():
                found[dotted] = value.strip()
        return found


# --------------------------------------------------------------------------- loading
def load_config(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> AppConfig:
    """Read and validate a YAML config (None: all defaults), then apply secrets from the environment.

    Raises ConfigError naming the file and the key for unknown keys, wrong types and bad values.
    """
    source = Path(path) if path is not None else None
    where = str(source) if source is not None else "defaults"
    raw = _read_yaml(source, where) if source is not None else {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a mapping of sections (model:, engine:, web:, …)")
    if "source" in raw:  # a field of the model, not a key of the file
        raise ConfigError(f"{where}: unknown key 'source'; known keys: {', '.join(known_keys(AppConfig))}")
    try:
        config = AppConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {describe_validation_error(exc, AppConfig, raw)}") from None
    config.source = source
    if source is not None:
        _warn_about_written_secrets(config, source)
        if config.safety.negative_prompt is not None:
            log.warning(
                "%s: 'safety.negative_prompt' has no effect (SDXL-Turbo draws without guidance, where "
                "negative prompts are ignored); the prompt filter refuses unsafe requests: remove the key",
                source,
            )
    for dotted, value in EnvSettings.read(env).secrets().items():
        *parents, key = dotted.split(".")
        section: Any = config
        for name in parents:
            section = getattr(section, name)
        setattr(section, key, value)
    _resolve_paths(config, source)
    validate_config(config, where)
    return config


def _read_yaml(source: Path, where: str) -> Any:
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{where}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read the config file ({exc})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{where}: YAML syntax error{at}: {problem}") from None
    return {} if raw is None else raw


def _warn_about_written_secrets(config: AppConfig, source: Path) -> None:
    """One line per problem: a token in the file (it belongs in the environment), and a token in a
    file every user of the machine can read."""
    written = [dotted for dotted in ENV_SECRETS.values() if _get(config, dotted)]
    if not written:
        return
    names = ", ".join(f"'{d}'" for d in written)
    variables = ", ".join(v for v, d in ENV_SECRETS.items() if d in written)
    log.warning("%s: %s written in the file; prefer the environment (%s)", source, names, variables)
    try:
        mode = source.stat().st_mode
    except OSError:
        return
    if mode & stat.S_IROTH:
        log.warning(
            "%s holds a token and every user of this machine can read it: chmod 600 %s", source, source
        )


def _get(config: AppConfig, dotted: str) -> Any:
    value: Any = config
    for name in dotted.split("."):
        value = getattr(value, name, None)
    return value


def _resolve_paths(config: AppConfig, source: Path | None) -> None:
    """Relative paths in a config file are relative to that file: `stickerbot run` works anywhere.

    The default styles directory falls back to `./styles`, then to the shipped `styles/`, when the
    config file's directory has none; data paths with no config file stay relative to the working directory.
    """
    engine = config.engine
    default_dir = EngineConfig.model_fields["styles_dir"].default
    default_styles = engine.styles_dir == default_dir
    if source is not None:
        base = source.resolve().parent
        if not Path(engine.styles_dir).is_absolute():
            engine.styles_dir = str(base / engine.styles_dir)
        if not Path(config.storage.cache_dir).is_absolute():
            config.storage.cache_dir = str(base / config.storage.cache_dir)
        if not Path(config.teach.data_dir).is_absolute():
            config.teach.data_dir = str(base / config.teach.data_dir)
        prefix = "sqlite:///"
        url = config.storage.url
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            config.storage.url = prefix + str(base / url[len(prefix) :])
    if default_styles and not Path(engine.styles_dir).is_dir():
        local = Path(default_dir)
        engine.styles_dir = str(local.resolve() if local.is_dir() else SHIPPED_STYLES_DIR)


def required_secret(value: str | None, dotted: str) -> str:
    """A secret from the config, else from its environment variable (configs built in code skip
    `load_config`, which reads those). Raises ConfigError naming both places when it is unset."""
    var = next(v for v, d in ENV_SECRETS.items() if d == dotted)
    secret = (value or EnvSettings.read().secrets().get(dotted) or "").strip()
    if not secret:
        raise ConfigError(f"{dotted} is not set (put it in the config or in {var})")
    return secret


def secret_values(config: AppConfig) -> list[str]:
    """Every configured secret, for masking in logs."""
    return [v for dotted in ENV_SECRETS.values() if isinstance(v := _get(config, dotted), str) and v]


def validate_config(config: AppConfig, where: str = "config") -> None:
    """Checks that need more than one key or the file system (run after the environment is applied)."""

    def bad(key: str, message: str) -> ConfigError:
        return ConfigError(f"{where}: '{key}' {message}")

    block_file = config.safety.block_list_file
    if block_file is not None and not Path(block_file).is_file():
        raise bad("safety.block_list_file", f"names a file that does not exist ({block_file})")
    if config.web.trusted_proxies and not config.web.trusted_proxy_header:
        raise bad("web.trusted_proxies", "is set but web.trusted_proxy_header is not (e.g. X-Forwarded-For)")
    if config.telegram.enabled and not config.telegram.token:
        raise bad("telegram.enabled", "is true but there is no token: set STICKERBOT_TELEGRAM_TOKEN")
    if config.discord.enabled and not config.discord.token:
        raise bad("discord.enabled", "is true but there is no token: set STICKERBOT_DISCORD_TOKEN")
    if config.teach.min_photos > config.teach.max_photos:
        raise bad("teach.min_photos", f"is above teach.max_photos ({config.teach.max_photos})")
