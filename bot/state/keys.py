"""Short-lived keys shared by processes: values with a time to live, and "first one wins" claims.

Used for Telegram inline answers and "4 more" choices (a value any process can read back within its
TTL) and for handling each Telegram update exactly once (`claim("tg:update:<id>")` is true in exactly
one process). In process: a dict with expiry times; with Redis: `SET … EX` / `SET … NX EX`.
"""

from __future__ import annotations

import time
from typing import Protocol

from bot.state.redis_link import KEY_PREFIX, RedisLink, redis_errors

FEATURE = "shared keys"


class KeyValues(Protocol):
    async def put(self, key: str, value: bytes, ttl_s: float) -> None: ...
    async def get(self, key: str) -> bytes | None: ...
    async def claim(self, key: str, ttl_s: float) -> bool:
        """True for the first caller of `key` within `ttl_s` (across processes when shared)."""
        ...


class LocalKeyValues:
    def __init__(self, max_keys: int = 100_000) -> None:
        self._items: dict[str, tuple[float, bytes]] = {}
        self._max = max_keys

    def _sweep(self) -> None:
        now = time.monotonic()
        for key in [k for k, (exp, _v) in self._items.items() if exp <= now]:
            del self._items[key]
        while len(self._items) > self._max:
            del self._items[next(iter(self._items))]

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        self._items.pop(key, None)
        self._items[key] = (time.monotonic() + ttl_s, value)
        if len(self._items) > self._max:
            self._sweep()

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None or item[0] <= time.monotonic():
            return None
        return item[1]

    async def claim(self, key: str, ttl_s: float) -> bool:
        if await self.get(key) is not None:
            return False
        await self.put(key, b"1", ttl_s)
        return True


class RedisKeyValues:
    """The same in Redis; falls back to the process's own dict while Redis is unreachable."""

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self.local = LocalKeyValues()

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        await self.local.put(key, value, ttl_s)  # read-your-writes even during an outage
        if self.link.available:
            try:
                await self.link.client.set(KEY_PREFIX + "kv:" + key, value, px=max(1, int(ttl_s * 1000)))
            except redis_errors() as exc:
                self.link.failed(FEATURE, exc)

    async def get(self, key: str) -> bytes | None:
        if self.link.available:
            try:
                value = await self.link.client.get(KEY_PREFIX + "kv:" + key)
            except redis_errors() as exc:
                self.link.failed(FEATURE, exc)
            else:
                return None if value is None else bytes(value)
        return await self.local.get(key)

    async def claim(self, key: str, ttl_s: float) -> bool:
        if self.link.available:
            try:
                won = await self.link.client.set(
                    KEY_PREFIX + "claim:" + key, self.link.process_id, nx=True, px=max(1, int(ttl_s * 1000))
                )
            except redis_errors() as exc:
                self.link.failed(FEATURE, exc)
            else:
                return bool(won)
        return await self.local.claim(key, ttl_s)
