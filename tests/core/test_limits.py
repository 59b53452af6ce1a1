from __future__ import annotations

import asyncio

import pytest

from bot.limits import AdmissionClosed, FairAdmission, QueueFull, RateLimiter, TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_a_burst_then_refills() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=6, capacity=2, clock=clock)
    for _ in range(2):
        assert buckets.wait_time("u") == 0
        buckets.take("u")
    assert buckets.wait_time("u") == pytest.approx(10.0)
    clock.now += 5
    assert buckets.wait_time("u") == pytest.approx(5.0)
    clock.now += 5
    assert buckets.wait_time("u") == 0
    assert buckets.wait_time("other") == 0


def test_rate_limiter_takes_from_user_and_server_together() -> None:
    clock = Clock()
    limiter = RateLimiter(user_per_minute=60, server_per_minute=60, user_burst=2, server_burst=3, clock=clock)
    assert limiter.check("alice", "s1") == 0
    assert limiter.check("alice", "s1") == 0
    assert limiter.check("alice", "s1") > 0  # alice's own limit
    assert limiter.check("bob", "s1") == 0  # the server still had one token
    assert limiter.check("carol", "s1") > 0  # the server's limit
    assert limiter.check("carol", "s2") == 0  # another server is unaffected
    clock.now += 1
    assert limiter.check("carol", "s1") == 0


async def _hold(
    admission: FairAdmission, server: str, order: list[str], gate: asyncio.Event, label: str
) -> None:
    async with admission.slot(server):
        order.append(label)
        await gate.wait()


async def test_round_robin_across_servers_under_a_burst() -> None:
    admission = FairAdmission(max_in_flight=1)
    gate = asyncio.Event()
    order: list[str] = []
    blocker_release = asyncio.Event()

    async def blocker() -> None:
        async with admission.slot("busy"):
            await blocker_release.wait()

    first = asyncio.create_task(blocker())
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(_hold(admission, "busy", order, gate, f"busy{i}")) for i in range(6)]
    await asyncio.sleep(0)
    tasks += [asyncio.create_task(_hold(admission, "quiet", order, gate, f"quiet{i}")) for i in range(2)]
    await asyncio.sleep(0)
    assert admission.waiting == 8
    gate.set()  # every holder leaves as soon as it is admitted
    blocker_release.set()
    await asyncio.gather(first, *tasks)
    # the quiet server's requests are not stuck behind the busy server's burst
    assert order[:4] == ["busy0", "quiet0", "busy1", "quiet1"]
    assert order[4:] == ["busy2", "busy3", "busy4", "busy5"]


async def test_positions_reported_and_updated() -> None:
    admission = FairAdmission(max_in_flight=1)
    release = asyncio.Event()
    seen: dict[str, list[int]] = {"a": [], "b": [], "c": []}

    async def holder() -> None:
        async with admission.slot("s1"):
            await release.wait()

    async def waiter(name: str, server: str) -> None:
        async def report(p: int) -> None:
            seen[name].append(p)

        async with admission.slot(server, report):
            pass

    h = asyncio.create_task(holder())
    await asyncio.sleep(0)
    a = asyncio.create_task(waiter("a", "s1"))
    await asyncio.sleep(0)
    b = asyncio.create_task(waiter("b", "s1"))
    await asyncio.sleep(0)
    c = asyncio.create_task(waiter("c", "s2"))  # jumps ahead of b: round-robin
    for _ in range(5):
        await asyncio.sleep(0)
    assert seen["a"] == [1]
    assert seen["b"] == [2, 3]  # pushed back one place when s2's first request arrived
    assert seen["c"] == [2]
    release.set()
    await asyncio.gather(h, a, b, c)
    assert admission.in_flight == 0 and admission.waiting == 0


async def test_cancelled_waiter_leaves_the_line_and_frees_nothing_twice() -> None:
    admission = FairAdmission(max_in_flight=1)
    release = asyncio.Event()

    async def holder() -> None:
        async with admission.slot("s"):
            await release.wait()

    h = asyncio.create_task(holder())
    await asyncio.sleep(0)
    w = asyncio.create_task(_hold(admission, "s", [], asyncio.Event(), "w"))
    await asyncio.sleep(0)
    assert admission.waiting == 1
    w.cancel()
    with pytest.raises(asyncio.CancelledError):
        await w
    assert admission.waiting == 0
    release.set()
    await h
    assert admission.in_flight == 0
    async with admission.slot("s"):
        assert admission.in_flight == 1


async def test_queue_full_and_close() -> None:
    admission = FairAdmission(max_in_flight=1, max_waiting=1)
    release = asyncio.Event()

    async def holder() -> None:
        async with admission.slot("s"):
            await release.wait()

    h = asyncio.create_task(holder())
    await asyncio.sleep(0)
    w = asyncio.create_task(_hold(admission, "s", [], asyncio.Event(), "w"))
    await asyncio.sleep(0)
    with pytest.raises(QueueFull):
        async with admission.slot("t"):
            pass
    admission.close()
    with pytest.raises(AdmissionClosed):
        await w
    with pytest.raises(AdmissionClosed):
        async with admission.slot("t"):
            pass
    release.set()
    await h
