"""The "⏳ #3 in line" notice while a request waits, kept current without slowing the queue.

The service calls `QueueNotice.update` from inside its queue, so that call never waits on the
network: one background task applies the newest place in line through the adapter's `show`
(send or edit a message), skipping places that were overtaken meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.messages import queue_text

log = logging.getLogger(__name__)

Show = Callable[[str], Awaitable[bool]]
"""Shows a notice text on the platform; returns False when it could not (then updates stop)."""


class QueueNotice:
    def __init__(self, show: Show) -> None:
        self._show = show
        self._wanted: str | None = None
        self._shown: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def update(self, position: int) -> None:
        """The service's position callback: 1-based place in line, 0 when drawing starts."""
        if self._closed:
            return
        self._wanted = queue_text(position)
        if self._wanted is not None and self._wanted != self._shown:
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not self._closed and self._wanted is not None and self._wanted != self._shown:
            text = self._wanted
            try:
                if not await self._show(text):
                    return
            except Exception:
                log.exception("showing the place in line failed")
                return
            self._shown = text

    async def close(self, wait_s: float = 5.0) -> None:
        """Stop updating. A `show` already under way gets `wait_s` to finish (so it neither lands
        after the answer nor leaves a message behind unrecorded), then it is cancelled."""
        self._closed = True
        task = self._task
        if task is None or task.done():
            return
        await asyncio.wait({task}, timeout=wait_s)
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
