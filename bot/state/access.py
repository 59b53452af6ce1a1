"""How adapters reach storage and shared state: `database_for(service)` and `state_for(service)`, two
small interfaces instead of reaching into the service's attributes."""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from bot.state.shared import SharedState
from bot.storage import Database

log = logging.getLogger("stickerbot.state")


@runtime_checkable
class HasSharedState(Protocol):
    """A service that exposes the processes' shared state (`bot.service.StickerService` does)."""

    state: SharedState


@runtime_checkable
class HasDatabase(Protocol):
    """A service whose database adapters may keep their own tables in (`bot.service.StickerService`)."""

    database: Database


def database_for(service: object) -> Database | None:
    """The service's database, or None for a service without one (adapters then keep state in memory
    or open `storage.url` themselves)."""
    if isinstance(service, HasDatabase) and isinstance(service.database, Database):
        return service.database
    return None


_fallbacks: dict[int, SharedState] = {}


def state_for(service: object) -> SharedState:
    """The service's shared state; a service without one (a remote service, a test double) gets a
    per-process state, the same object for the same service."""
    if isinstance(service, HasSharedState) and isinstance(service.state, SharedState):
        return service.state
    found = _fallbacks.get(id(service))
    if found is None:
        from bot.config import AppConfig
        from bot.state.shared import local_state

        log.info("the service shares no state; using per-process state")
        found = _fallbacks[id(service)] = local_state(AppConfig())
    return found
