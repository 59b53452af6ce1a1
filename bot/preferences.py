"""Per-scope settings as the service uses them: the default style and options, read and changed.

A database outage degrades reads to the defaults and refuses writes with one short sentence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence

from bot import messages
from bot.planning import ScopeSettings, default_style, fail, style_named
from bot.settings import DEFAULT_STYLE, SettingsStore, normalise_option
from bot.storage import DatabaseError
from bot.types import ErrorKind, Scope
from generator.api import StyleSummary

log = logging.getLogger("bot.service")

NOT_SAVED = "I couldn't save that setting. Please try again later."


class Preferences:
    """Reads and changes scope settings; `styles` gives the styles that exist right now."""

    def __init__(
        self,
        store: SettingsStore,
        styles: Callable[[], Sequence[StyleSummary]],
        configured_style: str,
        unavailable: Callable[[], Collection[str]] = tuple,
    ) -> None:
        self.store = store
        self._styles = styles
        self._unavailable = unavailable
        self.configured_style = configured_style

    async def settings_for(self, scope: Scope) -> ScopeSettings:
        """Every setting for `scope` in one read; a database outage means the defaults."""
        try:
            conversation, server = await self.store.levels(scope)
        except DatabaseError:
            log.warning("settings unavailable; using the defaults", exc_info=True)
            return ScopeSettings()
        return ScopeSettings(conversation, server)

    async def default_style(self, scope: Scope) -> str:
        return default_style(self._styles(), await self.settings_for(scope), self.configured_style)

    async def get_option(self, scope: Scope, key: str, default: str | None = None) -> str | None:
        return (await self.settings_for(scope)).get(key, default)

    async def set_default_style(self, scope: Scope, style: str, *, is_admin: bool) -> str:
        if not is_admin:
            raise fail(ErrorKind.FORBIDDEN, messages.FORBIDDEN_STYLE)
        name = style_named(self._styles(), style, self._unavailable()).name
        await self._save(scope, DEFAULT_STYLE, name)
        where = "this channel" if scope.conversation else "this server"
        return f"Default style for {where} is now “{name}”."

    async def set_option(self, scope: Scope, key: str, value: str, *, is_admin: bool) -> None:
        if not is_admin:
            raise fail(ErrorKind.FORBIDDEN, messages.FORBIDDEN)
        key = key.strip().lower()
        if key == DEFAULT_STYLE:
            await self.set_default_style(scope, value, is_admin=is_admin)
            return
        try:
            normalised = normalise_option(key, value)
        except ValueError as exc:
            raise fail(ErrorKind.INVALID, f"“{key[:40]}” {exc}.") from None
        await self._save(scope, key, normalised)

    async def _save(self, scope: Scope, key: str, value: str) -> None:
        try:
            await self.store.set(scope, key, value)
        except DatabaseError:
            log.exception("could not save setting %s", key)
            raise fail(ErrorKind.FAILED, NOT_SAVED) from None
