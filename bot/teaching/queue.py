"""The teach queue: at most `max_concurrent` trainings at once, taken round-robin across servers.

Each server has its own line; when a slot frees up, the waiting server served least recently
starts its oldest job. So ten teaches from one busy server cannot keep a quiet server waiting
behind all of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Run = Callable[[str], Awaitable[None]]


class FairQueue:
    def __init__(self, run: Run, max_concurrent: int = 1) -> None:
        self._run = run
        self.max_concurrent = max(1, max_concurrent)
        self._lines: OrderedDict[str, deque[str]] = OrderedDict()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.started: list[tuple[str, str]] = []  # (server, job) in start order (for the fairness bench)
        self._closed = False
        self._served: dict[str, int] = {}  # server -> turn of its last start
        self._turn = 0

    @property
    def running(self) -> int:
        return len(self._tasks)

    @property
    def waiting(self) -> int:
        return sum(len(line) for line in self._lines.values())

    def submit(self, server: str, job_id: str) -> None:
        if self._closed:
            return
        self._lines.setdefault(server, deque()).append(job_id)
        self._pump()

    def cancel(self, job_id: str) -> bool:
        """Take `job_id` out of line or stop it; True when it was found."""
        for line in self._lines.values():
            if job_id in line:
                line.remove(job_id)
                return True
        task = self._tasks.get(job_id)
        if task is not None:
            task.cancel()
            return True
        return False

    async def stop(self, job_id: str) -> None:
        """Like `cancel`, and wait until a running job has really stopped (its child is gone)."""
        task = self._tasks.get(job_id)
        self.cancel(job_id)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    def _pump(self) -> None:
        while not self._closed and len(self._tasks) < self.max_concurrent:
            waiting = [s for s, line in self._lines.items() if line]
            if not waiting:
                return
            # Least recently served first: a server that just started a job goes behind every other.
            server = min(waiting, key=lambda s: self._served.get(s, -1))
            self._turn += 1
            self._served[server] = self._turn
            line = self._lines[server]
            job_id = line.popleft()
            if not line:
                del self._lines[server]
            self.started.append((server, job_id))
            task = asyncio.create_task(self._run_one(job_id), name=f"teach {job_id}")
            self._tasks[job_id] = task

    async def _run_one(self, job_id: str) -> None:
        try:
            await self._run(job_id)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("teach job %s failed unexpectedly", job_id)
        finally:
            self._tasks.pop(job_id, None)
            self._pump()

    async def close(self) -> None:
        """Stop starting jobs and stop the running ones (their state stays for the next start)."""
        self._closed = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
