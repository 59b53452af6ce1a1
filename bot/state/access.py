"""How adapters reach the shared state: `state_for(service)`, never the service's private attributes."""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from bot.state.shared import SharedState

log = logging.getLogger("stickerbot.state")


@runtime_checkable
class HasSharedState(Protocol):
    """A service that exposes the processes' shared state (`bot.service.StickerService` does)."""

    state: SharedState


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
