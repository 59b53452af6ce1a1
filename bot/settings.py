"""Per-scope settings: server defaults and per-server (or per-conversation) options.

A value set for a conversation overrides the server's; the server's overrides the global
default from the config. Core keys are validated here; adapters may keep their own keys under
their platform prefix (e.g. `telegram.pack_title`), stored as plain text.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.storage import Database
from bot.types import Scope

DEFAULT_STYLE = "default_style"


def _choice(*allowed: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        v = value.strip().lower()
        if v not in allowed:
            raise ValueError(f"must be one of: {', '.join(allowed)}")
        return v

    return check


def _int_range(lo: int, hi: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        try:
            n = int(value.strip())
        except ValueError:
            raise ValueError(f"must be a whole number from {lo} to {hi}") from None
        if not lo <= n <= hi:
            raise ValueError(f"must be a whole number from {lo} to {hi}")
        return str(n)

    return check


@dataclass(frozen=True, slots=True)
class OptionSpec:
    key: str
    help: str
    normalise: Callable[[str], str]


CORE_OPTIONS: dict[str, OptionSpec] = {
    spec.key: spec
    for spec in (
        OptionSpec(
            "outline",
            "white outline around stickers: on, off or auto (the style decides)",
            _choice("on", "off", "auto"),
        ),
        OptionSpec("count", "how many candidates a plain request makes (1-4)", _int_range(1, 4)),
        OptionSpec(
            "reactions",
            "make a sticker when someone reacts with a known emoji: on or off",
            _choice("on", "off"),
        ),
    )
}
ADAPTER_KEY_PREFIXES = ("telegram.", "discord.", "web.")


def normalise_option(key: str, value: str) -> str:
    """Validate a user-supplied option; raises ValueError with a short reason."""
    if key in CORE_OPTIONS:
        return CORE_OPTIONS[key].normalise(value)
    if key.startswith(ADAPTER_KEY_PREFIXES) and len(key) <= 64:
        if len(value) > 1000:
            raise ValueError("is too long")
        return value
    raise ValueError(f"is not a setting; try one of: {', '.join(CORE_OPTIONS)}")


class SettingsStore:
    """Reads and writes `core_settings`; every write is its own committed transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, scope: Scope, key: str) -> str | None:
        """The most specific value: the conversation's, else the server's."""
        if scope.conversation:
            value = await self._get_exact(scope.platform, scope.server, scope.conversation, key)
            if value is not None:
                return value
        return await self._get_exact(scope.platform, scope.server, "", key)

    async def _get_exact(self, platform: str, server: str, conversation: str, key: str) -> str | None:
        row = await self._db.fetchone(
            "SELECT value FROM core_settings "
            "WHERE platform = ? AND server = ? AND conversation = ? AND key = ?",
            (platform, server, conversation, key),
        )
        return None if row is None else str(row[0])

    async def set(self, scope: Scope, key: str, value: str) -> None:
        await self._db.execute(
            "INSERT INTO core_settings (platform, server, conversation, key, value, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (platform, server, conversation, key) "
            "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (scope.platform, scope.server, scope.conversation or "", key, value, time.time()),
        )

    async def levels(self, scope: Scope) -> tuple[dict[str, str], dict[str, str]]:
        """(the conversation's values, the server's values) for `scope`, in one query."""
        rows = await self._db.fetchall(
            "SELECT conversation, key, value FROM core_settings WHERE platform = ? AND server = ? "
            "AND conversation IN ('', ?)",
            (scope.platform, scope.server, scope.conversation or ""),
        )
        conversation: dict[str, str] = {}
        server: dict[str, str] = {}
        for where, key, value in rows:
            (server if where == "" else conversation)[str(key)] = str(value)
        return conversation, server

    async def all_for(self, scope: Scope) -> dict[str, str]:
        """Every value that applies to `scope` (conversation values override server values)."""
        conversation, server = await self.levels(scope)
        return {**server, **conversation}
