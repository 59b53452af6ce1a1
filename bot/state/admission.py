"""Engine admission across processes: a cluster-wide cap on requests in flight, held as Redis leases.

Each process keeps its own `FairAdmission` (the round-robin line per server and the positions it
reports). A request that gets a local slot then takes a lease in the sorted set `sb:adm:slots`
(member = process id + slot number, score = expiry on Redis's clock). A Lua script takes a lease only
while fewer than `max_in_flight` unexpired ones exist, so the cap holds across processes exactly as in
one. A heartbeat renews the process's leases every `ttl/3`; a process killed with `kill -9` stops
renewing and its slots come back after at most `lease_ttl_s`. Requests waiting for a cluster slot are
leases in `sb:adm:waiting`, counted against `max_waiting` the same way.

When Redis is unreachable the local admission alone decides (logged once).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

from bot.limits import AdmissionClosed, FairAdmission, PositionSink, QueueFull
from bot.state.redis_link import KEY_PREFIX, RedisLink, redis_errors

log = logging.getLogger("stickerbot.state")

FEATURE = "engine admission"
SLOTS = f"{KEY_PREFIX}adm:slots"
WAITING = f"{KEY_PREFIX}adm:waiting"

# KEYS[1] zset, ARGV: member, ttl seconds, cap. Returns 1 when the lease was taken.
ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
  return 1
end
return 0
"""

# KEYS: zsets; ARGV[1] ttl, ARGV[2..] members. Renews the members that still exist.
RENEW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for _, key in ipairs(KEYS) do
  for i = 2, #ARGV do
    redis.call('ZADD', key, 'XX', now + tonumber(ARGV[1]), ARGV[i])
  end
end
return 1
"""


class SharedAdmission:
    """`FairAdmission`'s interface (`slot`, `in_flight`, `waiting`, `close`) plus the Redis leases."""

    def __init__(
        self,
        link: RedisLink,
        max_in_flight: int,
        max_waiting: int = 1000,
        *,
        lease_ttl_s: float = 15.0,
        poll_s: float = 0.02,
    ) -> None:
        self.link = link
        self.local = FairAdmission(max_in_flight, max_waiting)
        self.max_in_flight = self.local.max_in_flight
        self.max_waiting = max_waiting
        self.lease_ttl_s = lease_ttl_s
        self.poll_s = poll_s
        self._ids = itertools.count(1)
        self._held: set[str] = set()
        self._acquire: Any = link.client.register_script(ACQUIRE_LUA)
        self._renew: Any = link.client.register_script(RENEW_LUA)
        self._heartbeat: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()

    @property
    def in_flight(self) -> int:
        return self.local.in_flight

    @property
    def waiting(self) -> int:
        return self.local.waiting

    def close(self) -> None:
        self._closed.set()
        self.local.close()
        if self._heartbeat is not None:
            self._heartbeat.cancel()

    async def cluster_in_flight(self) -> int:
        """Unexpired leases across every process (for tests and the docs' figures)."""
        return int(await self.link.client.zcount(SLOTS, "(" + str(await self._now()), "+inf"))

    async def _now(self) -> float:
        sec, usec = await self.link.client.time()
        return float(sec) + usec / 1e6

    @contextlib.asynccontextmanager
    async def slot(self, server: str, on_position: PositionSink | None = None) -> AsyncIterator[None]:
        async with self.local.slot(server, on_position):
            member = f"{self.link.process_id}:{next(self._ids)}"
            leased = await self._lease(member, on_position)
            try:
                yield
            finally:
                if leased:
                    await self._release(member)

    async def _lease(self, member: str, on_position: PositionSink | None) -> bool:
        """Take a cluster slot, waiting (as a counted waiter) while all are taken. False = Redis down."""
        self._ensure_heartbeat()
        if not await self._try(SLOTS, member, self.max_in_flight):
            if not self.link.available:
                return False
            if not await self._try(WAITING, member, self.max_waiting):
                if not self.link.available:
                    return False
                raise QueueFull
            self._held.add(member)
            granted = False
            try:
                if on_position is not None:
                    await on_position(1)
                while not granted:
                    await asyncio.sleep(self.poll_s)
                    if self._closed.is_set():
                        raise AdmissionClosed
                    granted = await self._try(SLOTS, member, self.max_in_flight)
                    if not granted and not self.link.available:
                        return False
            finally:
                if not granted:
                    self._held.discard(member)
                with contextlib.suppress(*redis_errors()):
                    await self.link.client.zrem(WAITING, member)
        self._held.add(member)
        return True

    async def _try(self, key: str, member: str, cap: int) -> bool:
        if not self.link.available:
            self.link.skipped(FEATURE)
            return False
        try:
            taken = bool(await self._acquire(keys=[key], args=[member, self.lease_ttl_s, cap]))
        except redis_errors() as exc:
            self.link.failed(FEATURE, exc)
            return False
        self.link.recovered(FEATURE)
        return taken

    async def _release(self, member: str) -> None:
        self._held.discard(member)
        try:
            await self.link.client.zrem(SLOTS, member)
        except redis_errors() as exc:  # the lease expires by itself
            self.link.failed(FEATURE, exc)

    def _ensure_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._beat(), name="admission-heartbeat")

    async def _beat(self) -> None:
        while not self._closed.is_set():
            await asyncio.sleep(self.lease_ttl_s / 3)
            held = list(self._held)
            if not held:
                continue
            try:
                await self._renew(keys=[SLOTS, WAITING], args=[self.lease_ttl_s, *held])
            except redis_errors() as exc:
                self.link.failed(FEATURE, exc)
