"""Track work that is running so a stop can let it finish, bounded, then cancel what is left.

One helper for every place that has "requests or background jobs in flight, drain them on shutdown":
the service, and each adapter's handlers and background tasks (late uploads, sticker jobs).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class InFlight:
    """Counts running handlers (`track`) and owns background tasks (`spawn`).

    `closing` turns True when `drain` starts, so callers can refuse new work with a "restarting" answer.
    """

    def __init__(self, name: str = "work") -> None:
        self.name = name
        self.closing = False
        self._running = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def running(self) -> int:
        """Tracked handlers plus background tasks not yet done."""
        return self._running + len(self._tasks)

    def _changed(self) -> None:
        if self.running == 0:
            self._idle.set()
        else:
            self._idle.clear()

    @asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        self._running += 1
        self._changed()
        try:
            yield
        finally:
            self._running -= 1
            self._changed()

    def spawn(
        self, coro: Coroutine[Any, Any, T], *, name: str | None = None, awaited: bool = False
    ) -> asyncio.Task[T]:
        """Run work that outlives its caller; `drain` waits for it and `cancel_all` stops it.

        A failure is logged here unless `awaited` (someone awaits the task and handles its error)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        self._changed()
        task.add_done_callback(self._done_awaited if awaited else self._done)
        return task

    def _done_awaited(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._changed()

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._done_awaited(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s task %s failed", self.name, task.get_name(), exc_info=task.exception())

    async def drain(self, within_s: float) -> bool:
        """Mark closing and wait up to `within_s` for everything to finish. True when it all did."""
        self.closing = True
        try:
            await asyncio.wait_for(self._idle.wait(), max(0.0, within_s))
            return True
        except TimeoutError:
            return False

    async def cancel_all(self, within_s: float = 5.0) -> int:
        """Cancel background tasks still running; returns how many were abandoned."""
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=max(0.01, within_s))
        return len(tasks)
