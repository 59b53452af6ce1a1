"""Typed configuration: one section per component, loaded from YAML and validated at start-up.

`config.example.yaml` documents every key. Secrets (bot tokens) come from the environment
(`STICKERBOT_TELEGRAM_TOKEN`, `STICKERBOT_DISCORD_TOKEN`) or the file, and are never logged:
their dataclass fields are `repr=False`.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from generator.options import EngineConfig, ModelConfig
from generator.styles import SHIPPED_STYLES_DIR

__all__ = ["AppConfig", "ConfigError", "EngineConfig", "ModelConfig", "load_config", "validate_config"]

T = TypeVar("T")


@dataclass
class StorageConfig:
    url: str = "sqlite:///data/stickerbot.db"
    cache_dir: str = "data/cache"
    cache_max_mb: int = 512
    keep_records_days: float = 30.0  # results older than this can no longer be rerolled (0 = keep forever)
    pool_size: int = 10  # PostgreSQL: connections per process (psycopg_pool), so requests don't queue


@dataclass
class LimitsConfig:
    user_per_minute: int = 10
    server_per_minute: int = 60
    max_in_flight: int = 8  # requests handed to the engine at once; the rest wait round-robin per server
    user_burst: int = 5  # requests a user may send back to back before the per-minute rate applies
    server_burst: int = 30
    max_waiting: int = 500  # requests waiting for an engine slot before new ones are told "busy"
    shutdown_grace_s: float = 20.0  # on SIGINT/SIGTERM, how long in-flight requests may finish


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
    admin_token: str | None = field(default=None, repr=False)  # when set, only its holders change room styles
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
    mode: str | None = None  # polling | webhook; null = webhook when webhook.url is set
    webhook: TelegramWebhookConfig = field(default_factory=TelegramWebhookConfig)


@dataclass
class DiscordConfig:
    enabled: bool = False
    token: str | None = field(default=None, repr=False)
    api_base_url: str | None = None  # e.g. http://127.0.0.1:9999/api/v10
    gateway_url: str | None = None  # e.g. ws://127.0.0.1:9999/gateway
    guild_ids: list[int] = field(default_factory=list)
    shards: int | None = None  # None = one shard; N = AutoShardedClient with N shards; 0 = Discord recommends
    shard_ids: list[int] = field(default_factory=list)  # this process's shards of `shards` (empty = all)


@dataclass
class StateConfig:
    """State shared by several bot processes (docs/scaling/shared-state.md); url null = in process."""

    url: str | None = field(default=None, repr=False)  # redis://host:6379/0
    lease_ttl_s: float = 15.0  # a killed process's engine slots come back after at most this long
    presence_ttl_s: float = 30.0  # a killed process's web room members drop out after this long


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
    state: StateConfig = field(default_factory=StateConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    source: Path | None = None  # the file it was loaded from, if any


class ConfigError(Exception):
    """A config file problem, phrased for the operator (names the file and the key)."""


# --------------------------------------------------------------------------- loading
ENV_SECRETS = {
    "STICKERBOT_TELEGRAM_TOKEN": "telegram.token",
    "STICKERBOT_DISCORD_TOKEN": "discord.token",
    "STICKERBOT_WEB_ACCESS_TOKEN": "web.access_token",
    "STICKERBOT_WEB_ADMIN_TOKEN": "web.admin_token",
    "STICKERBOT_TELEGRAM_WEBHOOK_SECRET": "telegram.webhook.secret_token",
    "STICKERBOT_STATE_URL": "state.url",
}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def load_config(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> AppConfig:
    """Read and validate a YAML config (None: all defaults), then apply secrets from the environment.

    Raises ConfigError naming the file and the key for unknown keys, wrong types and bad values.
    """
    env = os.environ if env is None else env
    source = Path(path) if path is not None else None
    where = str(source) if source is not None else "defaults"
    raw: Any = {}
    if source is not None:
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
        if raw is None:
            raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a mapping of sections (model:, engine:, web:, …)")
    config = _build(AppConfig, raw, where, "")
    config.source = source
    for var, dotted in ENV_SECRETS.items():
        value = env.get(var)
        if value:
            *parents, key = dotted.split(".")
            section: Any = config
            for name in parents:
                section = getattr(section, name)
            setattr(section, key, value.strip())
    _resolve_paths(config, source)
    validate_config(config, where)
    return config


def _resolve_paths(config: AppConfig, source: Path | None) -> None:
    """Relative paths in a config file are relative to that file: `stickerbot run` works anywhere.

    The default styles directory falls back to `./styles`, then to the shipped `styles/`, when the
    config file's directory has none; data paths with no config file stay relative to the working directory.
    """
    engine = config.engine
    default_styles = engine.styles_dir == EngineConfig.styles_dir
    if source is not None:
        base = source.resolve().parent
        if not Path(engine.styles_dir).is_absolute():
            engine.styles_dir = str(base / engine.styles_dir)
        if not Path(config.storage.cache_dir).is_absolute():
            config.storage.cache_dir = str(base / config.storage.cache_dir)
        prefix = "sqlite:///"
        url = config.storage.url
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            config.storage.url = prefix + str(base / url[len(prefix) :])
    if default_styles and not Path(engine.styles_dir).is_dir():
        local = Path(EngineConfig.styles_dir)
        engine.styles_dir = str(local.resolve() if local.is_dir() else SHIPPED_STYLES_DIR)


def required_secret(value: str | None, dotted: str) -> str:
    """A secret from the config, else from its environment variable (configs built in code skip
    `load_config`, which reads those). Raises ConfigError naming both places when it is unset."""
    var = next(v for v, d in ENV_SECRETS.items() if d == dotted)
    secret = (value or os.environ.get(var) or "").strip()
    if not secret:
        raise ConfigError(f"{dotted} is not set (put it in the config or in {var})")
    return secret


def secret_values(config: AppConfig) -> list[str]:
    """Every configured secret, for masking in logs."""
    found: list[str] = []
    for dotted in ENV_SECRETS.values():
        value: Any = config
        for name in dotted.split("."):
            value = getattr(value, name, None)
        if isinstance(value, str) and value:
            found.append(value)
    return found


def _build(cls: type[T], raw: Mapping[str, Any], where: str, prefix: str) -> T:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init and f.name != "source"}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if not isinstance(key, str) or key not in names:
            suggestion = difflib.get_close_matches(str(key), sorted(names), n=1)
            hint = f" (did you mean '{prefix}{suggestion[0]}'?)" if suggestion else ""
            raise ConfigError(
                f"{where}: unknown key '{dotted}'{hint}; known keys: {', '.join(sorted(names))}"
            )
        kwargs[key] = _convert(hints[key], value, where, dotted)
    return cls(**kwargs)


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    return {bool: "true/false", int: "a whole number", float: "a number", str: "text"}.get(tp, str(tp))


def _convert(tp: Any, value: Any, where: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where, key)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: '{key}' must be {_type_name(tp)}, got {_describe(value)}")
    if dataclasses.is_dataclass(tp):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: '{key}' must be a mapping of keys, got {_describe(value)}")
        return _build(tp, value, where, f"{key}.")
    if tp is Any:
        return value
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(
                f"{where}: '{key}' must be one of {', '.join(map(str, choices))}, got {_describe(value)}"
            )
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: '{key}' must be {_type_name(tp)}, got {_describe(value)}")
        (item,) = typing.get_args(tp)
        return [_convert(item, v, where, f"{key}[{i}]") for i, v in enumerate(value)]
    ok = (
        (tp is bool and isinstance(value, bool))
        or (tp is int and isinstance(value, int) and not isinstance(value, bool))
        or (tp is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (tp is str and isinstance(value, str))
    )
    if not ok:
        raise ConfigError(f"{where}: '{key}' must be {_type_name(tp)}, got {_describe(value)}")
    return float(value) if tp is float else value


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    text = repr(value)
    return f"{text[:40]}… ({type(value).__name__})" if len(text) > 40 else f"{text} ({type(value).__name__})"


def validate_config(config: AppConfig, where: str = "config") -> None:
    """Value checks beyond types (ranges, choices, required secrets)."""

    def bad(key: str, message: str) -> ConfigError:
        return ConfigError(f"{where}: '{key}' {message}")

    def positive(key: str, value: float, *, zero: bool = False) -> None:
        if value < 0 or (value == 0 and not zero):
            raise bad(key, f"must be {'zero or more' if zero else 'greater than zero'} (got {value})")

    def port(key: str, value: int) -> None:
        if not 1 <= value <= 65535:
            raise bad(key, f"must be a TCP port from 1 to 65535 (got {value})")

    m, e, s, lim = config.model, config.engine, config.storage, config.limits
    if m.device not in ("auto", "cuda", "mps", "cpu") and not m.device.startswith("cuda:"):
        raise bad("model.device", f"must be auto, cuda, cuda:N, mps or cpu (got {m.device!r})")
    if m.dtype not in ("auto", "float16", "bfloat16", "float32"):
        raise bad("model.dtype", f"must be auto, float16, bfloat16 or float32 (got {m.dtype!r})")
    if getattr(m, "vae_upcast", "auto") not in ("auto", "always", "never"):
        raise bad("model.vae_upcast", f"must be auto, always or never (got {m.vae_upcast!r})")
    if m.compile not in ("auto", "off", "regional", "full"):
        raise bad("model.compile", f"must be auto, off, regional or full (got {m.compile!r})")
    if not m.path.strip():
        raise bad("model.path", "must name a hub id or a local directory")
    for key in ("max_batch_size", "queue_size", "default_steps", "hot_styles"):
        positive(f"engine.{key}", getattr(e, key))
    positive("engine.max_wait_ms", e.max_wait_ms, zero=True)
    positive("engine.timeout_s", e.timeout_s)
    if e.default_steps > 4:
        raise bad("engine.default_steps", f"must be from 1 to 4 (got {e.default_steps})")
    if not (e.matting == "flood" or e.matting.startswith("rembg:")):
        raise bad("engine.matting", f"must be flood or rembg:<model> (got {e.matting!r})")
    if not (s.url.startswith("sqlite:///") or s.url.startswith(("postgresql://", "postgres://"))):
        raise bad("storage.url", "must be sqlite:///path/to/file.db or postgresql://user@host/db")
    positive("storage.cache_max_mb", s.cache_max_mb)
    positive("storage.pool_size", s.pool_size)
    positive("storage.keep_records_days", s.keep_records_days, zero=True)
    for key in (
        "user_per_minute",
        "server_per_minute",
        "max_in_flight",
        "user_burst",
        "server_burst",
        "max_waiting",
    ):
        positive(f"limits.{key}", getattr(lim, key))
    positive("limits.shutdown_grace_s", lim.shutdown_grace_s, zero=True)
    if config.safety.block_list_file is not None and not Path(config.safety.block_list_file).is_file():
        raise bad(
            "safety.block_list_file", f"names a file that does not exist ({config.safety.block_list_file})"
        )
    port("web.port", config.web.port)
    positive("web.max_message_chars", config.web.max_message_chars)
    positive("web.messages_per_10s", config.web.messages_per_10s)
    positive("web.history_limit", config.web.history_limit, zero=True)
    port("telegram.webhook.port", config.telegram.webhook.port)
    if config.telegram.mode not in (None, "polling", "webhook"):
        raise bad("telegram.mode", f"must be polling or webhook (got {config.telegram.mode!r})")
    positive("telegram.inline_deadline_s", config.telegram.inline_deadline_s)
    port("metrics.port", config.metrics.port)
    if config.state.url is not None and not config.state.url.startswith(("redis://", "rediss://", "unix://")):
        raise bad("state.url", "must be redis://host:6379/0, rediss://… or unix:///path (or null)")
    positive("state.lease_ttl_s", config.state.lease_ttl_s)
    positive("state.presence_ttl_s", config.state.presence_ttl_s)
    if config.discord.shards is not None:
        positive("discord.shards", config.discord.shards, zero=True)  # 0 = as many as Discord recommends
    ids = config.discord.shard_ids
    if ids:
        count = config.discord.shards or 0
        if count < 2:
            raise bad("discord.shard_ids", "needs discord.shards set to the total shard count (2 or more)")
        if len(set(ids)) != len(ids) or not all(0 <= i < count for i in ids):
            raise bad(
                "discord.shard_ids", f"must be distinct shard numbers from 0 to {count - 1} (got {ids})"
            )
    if config.logging.level.upper() not in _LOG_LEVELS:
        raise bad("logging.level", f"must be one of {', '.join(_LOG_LEVELS)} (got {config.logging.level!r})")
    if config.telegram.enabled and not config.telegram.token:
        raise bad("telegram.enabled", "is true but there is no token: set STICKERBOT_TELEGRAM_TOKEN")
    if config.discord.enabled and not config.discord.token:
        raise bad("discord.enabled", "is true but there is no token: set STICKERBOT_DISCORD_TOKEN")
