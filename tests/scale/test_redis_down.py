"""Redis down: one clear line at start, and stickers keep coming (limits per process, logged once)."""

from __future__ import annotations

import pytest

from tests.fakes.postgres import free_port
from tests.fakes.redis import RedisServer
from tests.scale.cluster import RoomClient

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


async def test_unreachable_at_start_is_one_line_and_stickers_still_come(start_bots) -> None:
    (bot,) = await start_bots(1, redis=f"redis://127.0.0.1:{free_port()}/0")
    async with RoomClient(bot.url, name="ann") as client:
        assert (await client.sticker("waving otter"))["type"] == "message"
        assert (await client.sticker("sleepy otter"))["type"] == "message"
    start = bot.output[: next(i for i, line in enumerate(bot.output) if "stickerbot running" in line)]
    lines = [line for line in start if "Redis" in line]
    assert len(lines) == 1 and "unreachable" in lines[0] and "per process" in lines[0], bot.text
    assert "Traceback" not in bot.text


async def test_redis_dies_at_run_time(start_bots) -> None:
    own = RedisServer().start()
    try:
        (bot,) = await start_bots(1, redis=own.url, limits={"user_burst": 2, "user_per_minute": 1})
        async with RoomClient(bot.url, name="ann") as client:
            assert (await client.sticker("one"))["type"] == "message"
            own.stop()
            assert (await client.sticker("two"))["type"] == "message"
            # the per-process buckets now decide (they start full): still limited, never failing
            kinds = [(await client.sticker(f"more {i}"))["type"] for i in range(3)]
        assert kinds == ["message", "notice", "notice"]  # "two" and "more 0" took the 2 local tokens
        warnings = [line for line in bot.output if "falls back to per-process" in line]
        assert any("rate limits" in line for line in warnings), bot.text
        assert len([w for w in warnings if "rate limits" in w]) == 1
        assert "Traceback" not in bot.text
    finally:
        own.stop()
