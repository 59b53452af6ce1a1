"""Starting chat platforms so that one that can't be reached never takes the others down.

An adapter whose `start()` raises `PlatformUnreachable` (the network, DNS, a 5xx, a timeout: the
adapter decides) is logged in one line and started again in the background with exponential
backoff, while the web room and the other platforms run. Anything else (a rejected token, a bad
config) still stops the start-up with its one-line message: retrying would not fix it.
"""

from __future__ import annotations

import asyncio
import logging

from bot.inflight import InFlight
from bot.types import Adapter, PlatformUnreachable

log = logging.getLogger("bot.app")

FIRST_RETRY_S = 5.0
MAX_RETRY_S = 300.0


class PlatformStarter:
    """Starts adapters; keeps retrying unreachable ones until they start or `stop()` is called."""

    def __init__(self, first_retry_s: float = FIRST_RETRY_S, max_retry_s: float = MAX_RETRY_S) -> None:
        self.first_retry_s = first_retry_s
        self.max_retry_s = max(first_retry_s, max_retry_s)
        self.retrying: set[str] = set()
        self._tasks = InFlight("platform start")

    async def start(self, name: str, adapter: Adapter) -> bool:
        """Start `adapter` now; False when it was unreachable (a retry runs in the background)."""
        try:
            await adapter.start()
        except PlatformUnreachable as exc:
            log.warning(
                "%s is unreachable (%s); retrying in %gs, the rest keeps running",
                name,
                exc,
                self.first_retry_s,
            )
            self.retrying.add(name)
            self._tasks.spawn(self._retry(name, adapter), name=f"start {name}")
            return False
        log.info("adapter %s started", name)
        return True

    async def _retry(self, name: str, adapter: Adapter) -> None:
        delay = self.first_retry_s
        attempts = 1
        while True:
            await asyncio.sleep(delay)
            attempts += 1
            try:
                await adapter.start()
            except PlatformUnreachable as exc:
                delay = min(delay * 2, self.max_retry_s)
                log.debug("%s still unreachable (%s); next try in %gs", name, exc, delay)
                continue
            except Exception:
                log.exception("%s could not be started; not retrying", name)
                self.retrying.discard(name)
                return
            self.retrying.discard(name)
            log.info("adapter %s started (attempt %d)", name, attempts)
            return

    async def stop(self) -> None:
        """Stop retrying (before the adapters themselves are stopped)."""
        await self._tasks.cancel_all()
