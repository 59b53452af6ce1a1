"""Two real bot processes sharing one Redis and one PostgreSQL: limits, cache, and a kill -9."""

from __future__ import annotations

import asyncio
import secrets

import aiohttp
import psycopg
import pytest
import redis.asyncio as aioredis

from tests.scale.cluster import RoomClient

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


async def test_a_users_limit_holds_across_both_processes(start_bots) -> None:
    a, b = await start_bots(2, limits={"user_burst": 3, "user_per_minute": 1})
    session = secrets.token_hex(16)  # one person, with a tab on each process
    async with (
        RoomClient(a.url, session=session, name="ann") as on_a,
        RoomClient(b.url, session=session, name="ann2") as on_b,
    ):
        answers = []
        for i, client in enumerate([on_a, on_b, on_a, on_b, on_a]):
            answers.append(await client.sticker(f"waving otter {i}"))
    kinds = [f["type"] for f in answers]
    assert kinds == ["message", "message", "message", "notice", "notice"], answers
    assert "Slow down" in answers[3]["text"]
    # another person is not affected
    async with RoomClient(b.url, name="bob") as other:
        assert (await other.sticker("sleepy otter"))["type"] == "message"


async def test_one_process_alone_would_have_doubled_the_quota(start_bots) -> None:
    """The control: without state.url each process keeps its own buckets."""
    a, b = await start_bots(2, limits={"user_burst": 2, "user_per_minute": 1}, redis=None)
    session = secrets.token_hex(16)
    async with (
        RoomClient(a.url, session=session, name="ann") as on_a,
        RoomClient(b.url, session=session, name="ann2") as on_b,
    ):
        kinds = [(await c.sticker(f"hi {i}"))["type"] for i, c in enumerate([on_a, on_b, on_a, on_b])]
    assert kinds == ["message"] * 4


async def test_a_sticker_made_via_a_is_served_by_b_from_the_shared_cache(start_bots) -> None:
    a, b = await start_bots(2)
    async with RoomClient(a.url, name="ann") as on_a:
        made = await on_a.sticker("eating otter seed:5")
    async with RoomClient(b.url, name="bob") as on_b:
        again = await on_b.sticker("eating otter seed:5")
    assert made["type"] == again["type"] == "message", (made, again)
    assert made["message"]["sticker"]["sha256"] == again["message"]["sticker"]["sha256"]
    assert await a.metric("stickerbot_stickers_generated_total") == 1
    assert await b.metric("stickerbot_stickers_generated_total") == 0  # B never called its engine
    assert await b.metric("stickerbot_cache_hits_total") == 1
    async with aiohttp.ClientSession() as http:
        sha = again["message"]["sticker"]["sha256"]
        async with http.get(f"{b.url}/stickers/{sha}.webp") as resp:
            assert resp.status == 200 and (await resp.read())[:4] == b"RIFF"


async def test_kill_9_during_a_burst(start_bots, redis_url: str) -> None:
    """A dies holding engine slots: B keeps answering, A's committed records stay, A's slots come back."""
    a, b = await start_bots(2, delay_s=1.5, limits={"max_in_flight": 2})
    redis = aioredis.Redis.from_url(redis_url)
    try:
        async with RoomClient(a.url, name="ann") as first:
            done = await first.sticker("first otter")  # committed before the kill
            assert done["type"] == "message"
            clients = [RoomClient(a.url, name=f"u{i}") for i in range(4)]
            for c in clients:
                await c.__aenter__()
            for i, c in enumerate(clients):
                await c.send("sticker", prompt=f"burst {i}")
            async with asyncio.timeout(10):
                while await redis.zcard("sb:adm:slots") < 2:  # noqa: ASYNC110 (Redis has no event for it)
                    await asyncio.sleep(0.05)
            await a.kill()
            for c in clients:
                await c.__aexit__(None, None, None)
        assert await redis.zcard("sb:adm:slots") == 2  # A's leases outlive it … for lease_ttl_s
        async with RoomClient(b.url, name="bob") as on_b:
            started = asyncio.get_running_loop().time()
            answer = await on_b.sticker("after the crash", timeout_s=30)
            waited = asyncio.get_running_loop().time() - started
        assert answer["type"] == "message", answer
        assert waited < 3.0 + 1.5 + 2.0  # lease TTL + one generation + slack: no slot leaked forever
        server = await redis.time()
        now = server[0] + server[1] / 1e6
        assert await redis.zcount("sb:adm:slots", now, "+inf") == 0
    finally:
        await redis.aclose()
    with psycopg.connect(start_bots.database) as conn:
        texts = {row[0] for row in conn.execute("SELECT text FROM core_records")}
    assert {"first otter", "after the crash"} <= texts
