"""Scale-test fixtures: one Redis server per session (PostgreSQL comes from tests/conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.postgres import PostgresServer
from tests.fakes.redis import RedisServer
from tests.scale.cluster import BotProcess, write_config


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session server's URL with an empty keyspace."""
    return redis_server.flush()


@pytest.fixture
async def start_bots(
    tmp_path: Path, postgres_server: PostgresServer, redis_url: str
) -> AsyncIterator[object]:
    """`await start_bots(2, limits=…, delay_s=…)` → bot processes sharing one PostgreSQL schema and Redis."""
    started: list[BotProcess] = []
    database = postgres_server.new_database()

    async def start(count: int, *, delay_s: float = 0.0, limits: dict | None = None,
                    extra: str | Callable[[int], str] = "",
                    redis: str | None = redis_url) -> list[BotProcess]:  # fmt: skip
        bots = []
        for i in range(count):
            name = chr(ord("a") + len(started))
            text = extra(i) if callable(extra) else extra
            path, web, metrics = write_config(
                tmp_path / name, postgres_url=database, redis_url=redis, limits=limits, extra=text
            )
            bot = BotProcess(name, path, web, metrics, delay_s=delay_s)
            started.append(bot)
            bots.append(bot)
        await asyncio.gather(*(b.start() for b in bots))
        return bots

    start.database = database  # type: ignore[attr-defined]
    try:
        yield start
    finally:
        for bot in started:
            await bot.stop()
