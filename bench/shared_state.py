"""`python -m bench.shared_state`: the bot tier across processes, with the fast fake engine.

Prints (1) requests/s through 1 and 2 real bot processes (`tests.fakes.bot_process`: `stickerbot run`
with the fake engine) sharing one PostgreSQL and one Redis, driven by web-room WebSocket clients;
(2) the Redis cost of one request (token buckets + admission lease + release), p50/p90; (3) the shared
sticker tier: reading a ~30 KB sticker from PostgreSQL (bytea) vs Redis, p50. Needs the Debian
packages `postgresql` and `redis-server` (scripts/test installs them) and a source checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import time
from pathlib import Path


def _cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = set(next((line for line in text.splitlines() if line.startswith("flags")), "").split())
    shown = [f for f in ("avx2", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{os.cpu_count()} CPUs, flags: {' '.join(shown) or 'none of avx2/avx512_bf16/amx_bf16'}"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def redis_cost(url: str, rounds: int) -> tuple[float, float]:
    from bot.config import LimitsConfig
    from bot.state.admission import SharedAdmission
    from bot.state.limits import RedisRateLimits
    from bot.state.redis_link import RedisLink

    link = RedisLink(url)
    limits = RedisRateLimits(link, LimitsConfig(user_per_minute=10**6, user_burst=10**6,
                                                server_per_minute=10**6, server_burst=10**6))  # fmt: skip
    admission = SharedAdmission(link, max_in_flight=1000, max_waiting=1000)
    samples = []
    try:
        for i in range(rounds):
            began = time.perf_counter()
            await limits.check(f"web:u{i % 50}", "web:lobby")
            async with admission.slot("web:lobby"):
                pass
            samples.append((time.perf_counter() - began) * 1000)
    finally:
        admission.close()
        await link.close()
    return _pct(samples, 0.5), _pct(samples, 0.9)


async def blob_reads(pg_url: str, redis_url: str, rounds: int) -> tuple[float, float]:
    from bot.state.redis_link import RedisLink
    from bot.state.sticker_blobs import DatabaseBlobs, RedisBlobs
    from bot.storage import open_database
    from tests.fakes.fake_engine import fake_sticker

    data = fake_sticker("bench otter", 1).webp
    data = data + os.urandom(max(0, 30_000 - len(data)))  # a typical sticker's size
    db = await open_database(pg_url)
    link = RedisLink(redis_url)
    pg, rd = DatabaseBlobs(db, 1 << 30), RedisBlobs(link, 3600)
    await pg.put("a" * 64, data)
    await rd.put("a" * 64, data)
    times: dict[str, list[float]] = {"pg": [], "redis": []}
    try:
        for _ in range(rounds):
            for name, tier in (("pg", pg), ("redis", rd)):
                began = time.perf_counter()
                assert await tier.get("a" * 64) == data
                times[name].append((time.perf_counter() - began) * 1000)
    finally:
        await db.close()
        await link.close()
    return _pct(times["pg"], 0.5), _pct(times["redis"], 0.5)


async def throughput(
    bots: list, seconds: float, clients_per_bot: int, warmup_s: float = 3.0
) -> tuple[int, float]:
    """Stickers answered per second over `seconds`, after `warmup_s` of the same load (not counted)."""
    from tests.scale.cluster import RoomClient

    done = 0
    start = time.perf_counter()
    count_from, stop_at = start + warmup_s, start + warmup_s + seconds

    async def drive(url: str) -> None:
        nonlocal done
        async with RoomClient(url, name=secrets.token_hex(4), room=f"r{secrets.token_hex(4)}") as client:
            while time.perf_counter() < stop_at:
                answer = await client.sticker(f"otter {secrets.token_hex(6)}", timeout_s=60)
                if answer["type"] == "message" and count_from <= time.perf_counter() <= stop_at:
                    done += 1

    await asyncio.gather(*(drive(b.url) for b in bots for _ in range(clients_per_bot)))
    return done, done / seconds


async def run(seconds: float, clients: int, rounds: int, order: tuple[int, ...] = (1, 2, 2, 1)) -> None:
    from tests.fakes.postgres import PostgresServer
    from tests.fakes.redis import RedisServer
    from tests.scale.cluster import BotProcess, write_config

    print(f"machine: {_cpu_flags()}; date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    pg, redis = PostgresServer().start(), RedisServer().start()
    try:
        p50, p90 = await redis_cost(redis.url, rounds)
        print(f"Redis cost per request (buckets + lease + release, {rounds} requests): p50 {p50:.2f} ms, "
              f"p90 {p90:.2f} ms")  # fmt: skip
        pg_ms, redis_ms = await blob_reads(pg.new_database(), redis.flush(), rounds)
        print(
            f"shared sticker read (30 KB, p50): PostgreSQL bytea {pg_ms:.2f} ms, Redis GET {redis_ms:.2f} ms"
        )
        with tempfile.TemporaryDirectory() as tmp:
            for count in order:
                redis.flush()
                database = pg.new_database()
                bots = []
                for i in range(count):
                    path, web, metrics = write_config(
                        Path(tmp) / f"{count}-{i}", postgres_url=database, redis_url=redis.url,
                        limits={"max_in_flight": 64, "max_waiting": 5000},
                    )  # fmt: skip
                    bots.append(BotProcess(f"{count}-{i}", path, web, metrics, extra_args=("--prerendered",)))
                await asyncio.gather(*(b.start() for b in bots))
                try:
                    total, rate = await throughput(bots, seconds, clients)
                finally:
                    await asyncio.gather(*(b.stop() for b in bots))
                print(f"{count} bot process(es), {clients * count} web clients, {seconds:.0f} s: "
                      f"{total} stickers, {rate:.1f} requests/s")  # fmt: skip
    finally:
        redis.stop()
        pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=16, help="web clients per bot process")
    parser.add_argument("--rounds", type=int, default=2000, help="samples for the per-request figures")
    args = parser.parse_args()
    asyncio.run(run(args.seconds, args.clients, args.rounds))


if __name__ == "__main__":
    main()
