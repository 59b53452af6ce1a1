""" "Address already in use" as one line naming the config key to change, instead of an OSError."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from typing import Any

from bot.config import AppConfig, ConfigError

PORT_KEYS = {"web": "web.port", "telegram": "telegram.webhook.port"}
"""The key holding the port each adapter listens on (adapters not named here listen on none)."""


@contextlib.contextmanager
def port_key(key: str, config: AppConfig) -> Iterator[None]:
    """Re-raise EADDRINUSE inside the block as ConfigError naming `key`, its value and the config file."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        value: Any = config
        for name in key.split("."):
            value = getattr(value, name)
        where = str(config.source) if config.source is not None else "defaults"
        raise ConfigError(
            f"{where}: '{key}' {value} is already in use (another stickerbot running?): choose another port"
        ) from None
