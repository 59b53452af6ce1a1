"""The Redis implementations against a real Redis, two links standing in for two processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.config import LimitsConfig
from bot.limits import QueueFull
from bot.state.admission import SLOTS, SharedAdmission
from bot.state.bus import RedisRoomBus
from bot.state.keys import RedisKeyValues
from bot.state.limits import RedisRateLimits
from bot.state.redis_link import RedisLink


@pytest.fixture
async def links(redis_url: str) -> AsyncIterator[list[RedisLink]]:
    made = [RedisLink(redis_url), RedisLink(redis_url)]
    try:
        yield made
    finally:
        for link in made:
            await link.close()


async def test_token_buckets_are_exact_under_concurrency(links: list[RedisLink]) -> None:
    config = LimitsConfig(user_per_minute=1, user_burst=7, server_per_minute=1, server_burst=1000)
    limits = [RedisRateLimits(link, config) for link in links]
    waits = await asyncio.gather(*(limits[i % 2].check("tg:1", "tg:s") for i in range(40)))
    assert sum(1 for w in waits if w == 0) == 7
    assert all(w > 0 for w in waits if w != 0)


async def test_a_claim_is_won_once(links: list[RedisLink]) -> None:
    keys = [RedisKeyValues(link) for link in links]
    won = await asyncio.gather(*(keys[i % 2].claim("tg:update:77", 60) for i in range(20)))
    assert won.count(True) == 1
    await keys[0].put("tg:inline:x", b"abc", 60)
    assert await keys[1].get("tg:inline:x") == b"abc"


async def test_admission_cap_across_links_and_lease_expiry(links: list[RedisLink]) -> None:
    a = SharedAdmission(links[0], max_in_flight=2, max_waiting=1, lease_ttl_s=1.0)
    b = SharedAdmission(links[1], max_in_flight=2, max_waiting=1, lease_ttl_s=1.0)
    inside = 0
    peak = 0
    gate = asyncio.Event()

    async def hold(adm: SharedAdmission) -> None:
        nonlocal inside, peak
        async with adm.slot("s"):
            inside += 1
            peak = max(peak, inside)
            await gate.wait()
            inside -= 1

    holders = [asyncio.create_task(hold(a)), asyncio.create_task(hold(a))]
    async with asyncio.timeout(5):
        while await links[0].client.zcard(SLOTS) < 2:  # noqa: ASYNC110 (Redis has no event for it)
            await asyncio.sleep(0.01)
    waiter = asyncio.create_task(hold(b))  # waits in the cluster line (max_waiting 1)
    await asyncio.sleep(0.2)
    with pytest.raises(QueueFull):
        async with b.slot("s"):
            pass
    gate.set()
    await asyncio.gather(*holders, waiter)
    assert peak == 2
    # a process that dies holding a lease: it is not renewed and expires
    await links[0].client.zadd(SLOTS, {"dead:1": (await _now(links[0])) + 1.0})
    assert await b.cluster_in_flight() == 1
    await asyncio.sleep(1.2)
    assert await b.cluster_in_flight() == 0
    a.close()
    b.close()


async def _now(link: RedisLink) -> float:
    sec, usec = await link.client.time()
    return float(sec) + usec / 1e6


async def test_room_bus_reaches_the_other_process_and_presence_counts_both(links: list[RedisLink]) -> None:
    got: list[tuple[str, str, dict]] = []
    buses = [RedisRoomBus(link, presence_ttl_s=1.0) for link in links]
    for name, bus in zip("ab", buses, strict=True):

        async def deliver(room: str, event: dict, name: str = name) -> None:
            got.append((name, room, event))

        await bus.start(deliver)
    await asyncio.sleep(0.2)  # subscriptions in place
    await buses[0].publish("lobby", {"type": "message", "text": "hi"})
    async with asyncio.timeout(5):
        while len(got) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert sorted(g[0] for g in got) == ["a", "b"] and got[0][2]["text"] == "hi"
    await buses[0].join("lobby", "c1")
    await buses[1].join("lobby", "c2")
    assert await buses[0].count("lobby") == 2
    await buses[1].leave("lobby", "c2")
    assert await buses[0].count("lobby") == 1
    for bus in buses:
        await bus.close()


async def test_a_weighted_request_takes_its_tokens_in_redis(links: list[RedisLink]) -> None:
    config = LimitsConfig(user_per_minute=1, user_burst=5, server_per_minute=1, server_burst=1000)
    limits = RedisRateLimits(links[0], config)
    assert await limits.check("tg:w", "tg:ws", config.diffusion_animation_weight) == 0
    assert await limits.check("tg:w", "tg:ws") == 0
    assert await limits.check("tg:w", "tg:ws") > 0


async def test_a_refund_gives_tokens_back_in_redis(links: list[RedisLink]) -> None:
    config = LimitsConfig(user_per_minute=1, user_burst=5, server_per_minute=1, server_burst=1000)
    limits = [RedisRateLimits(link, config) for link in links]
    assert await limits[0].check("tg:r", "tg:rs", 4) == 0  # 1 token left
    await limits[1].refund("tg:r", "tg:rs", 3)  # another process gives 3 back: 4
    await limits[1].refund("tg:never", "tg:rs", 3)  # a bucket never charged stays full (no key written)
    waits = [await limits[i % 2].check("tg:r", "tg:rs") for i in range(5)]
    assert waits[:4] == [0, 0, 0, 0] and waits[4] > 0
    assert await links[0].client.exists("sb:tb:u:tg:never") == 0
