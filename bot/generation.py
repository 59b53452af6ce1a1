"""The way to the engine: fair admission, the engine call, place-in-line reports and abort.

A request waits for an engine slot in `FairAdmission` (round-robin across servers), then its
`GenerationRequest` runs as a task the service can cancel on `abort()`; that cancellation becomes a
"restarting" reply. Cancelling the caller instead (a deadline, a superseded query) leaves the line or
the engine's queue at once: nothing is drawn for a request nobody waits for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

from bot import messages
from bot.inflight import InFlight
from bot.limits import AdmissionClosed, FairAdmission, QueueFull
from bot.metrics import Metrics
from bot.planning import Plan, fail, generation_request
from bot.types import ErrorKind, PositionCallback, StickerRequest
from generator.api import GenerationRequest, GenerationResult, StickerEngine

log = logging.getLogger("bot.service")


class PositionReporter:
    """Forwards place-in-line updates to the adapter: deduplicated, never raising."""

    def __init__(self, callback: PositionCallback | None) -> None:
        self._callback = callback
        self._last: int | None = None

    async def __call__(self, position: int) -> None:
        if self._callback is None or position == self._last:
            return
        self._last = position
        try:
            result = self._callback(position)
            if asyncio.iscoroutine(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("position callback failed", exc_info=True)


def server_key(request: StickerRequest) -> str:
    """Limits and the fair line count per server, or per `limits_key` where clients pick servers."""
    if request.limits_key is not None:
        return f"{request.platform}:key:{request.limits_key}"
    return f"{request.platform}:{request.scope_server}"


class Generations:
    """Runs plans on the engine, at most `admission.max_in_flight` at once."""

    def __init__(self, engine: StickerEngine, admission: FairAdmission, metrics: Metrics) -> None:
        self.engine = engine
        self.admission = admission
        self.metrics = metrics
        self._calls = InFlight("engine call")
        self._aborting = False

    async def run(self, request: StickerRequest, plan: Plan, report: PositionReporter) -> list[bytes]:
        """The plan's stickers as WebP bytes; raises `ServiceError` (busy, restarting, failed)."""
        job = generation_request(plan, request_id=request.request_id)

        async def in_line(position: int) -> None:
            await report(position + self.engine.queue_length())

        waited = time.perf_counter()
        try:
            async with self.admission.slot(server_key(request), in_line):
                self.metrics.wait_latency.observe(time.perf_counter() - waited)
                began = time.perf_counter()
                result = await self._call_engine(job, report)
                self.metrics.generation_latency.observe(time.perf_counter() - began)
        except QueueFull:
            raise fail(ErrorKind.OVERLOADED, messages.BUSY) from None
        except AdmissionClosed:
            raise fail(ErrorKind.SHUTTING_DOWN, messages.SHUTTING_DOWN) from None
        self.metrics.generation_jobs.labels(plan.style.name).inc()
        self.metrics.stickers.inc(len(result.stickers))
        if not result.stickers:
            raise fail(ErrorKind.FAILED, messages.FAILED)
        return [s.webp for s in result.stickers]

    async def animate(
        self, request: StickerRequest, plan: Plan, formats: tuple[str, ...]
    ) -> dict[str, bytes]:
        """A video-diffusion clip of the plan's first candidate, one file per engine format name, through
        the same fair line as stickers; engine errors (no motion adapter: one line) pass up."""
        job = replace(generation_request(plan, request_id=request.request_id), count=1)
        try:
            async with self.admission.slot(server_key(request)):
                result = await self.engine.animate(job, formats)
        except QueueFull:
            raise fail(ErrorKind.OVERLOADED, messages.BUSY) from None
        except AdmissionClosed:
            raise fail(ErrorKind.SHUTTING_DOWN, messages.SHUTTING_DOWN) from None
        self.metrics.generation_jobs.labels(plan.style.name).inc()
        return dict(result.files)

    async def _call_engine(self, job: GenerationRequest, report: PositionReporter) -> GenerationResult:
        """The engine call as a task that `abort()` can cancel; that cancellation becomes a reply."""
        task = self._calls.spawn(
            self.engine.generate(job, on_position=report), name=f"generate {job.request_id}", awaited=True
        )
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._aborting and task.cancelled() and (current is None or not current.cancelling()):
                raise fail(ErrorKind.SHUTTING_DOWN, messages.SHUTTING_DOWN) from None
            raise

    async def abort(self, within_s: float) -> None:
        """Close the line (waiters get "restarting") and cancel every engine call in progress."""
        self._aborting = True
        self.admission.close()
        await self._calls.cancel_all(within_s)
