"""The shared in-flight tracker: drain waits for handlers and tasks, cancel_all stops the rest."""

from __future__ import annotations

import asyncio

from bot.inflight import InFlight


async def test_drain_waits_for_tracked_handler_and_spawned_task() -> None:
    inflight = InFlight()
    release = asyncio.Event()

    async def handler() -> None:
        async with inflight.track():
            await release.wait()

    running = asyncio.create_task(handler())
    spawned = inflight.spawn(release.wait())
    await asyncio.sleep(0)
    assert inflight.running == 2
    assert not await inflight.drain(0.05)
    assert inflight.closing
    release.set()
    assert await inflight.drain(1.0)
    await running
    assert spawned.done() and inflight.running == 0


async def test_cancel_all_reports_abandoned_tasks() -> None:
    inflight = InFlight()
    task = inflight.spawn(asyncio.sleep(30))
    await asyncio.sleep(0)
    assert await inflight.cancel_all(1.0) == 1
    assert task.cancelled()
    assert inflight.running == 0 and await inflight.drain(0.01)
