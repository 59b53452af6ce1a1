"""The one Redis connection pool a process uses, and the "Redis is down" bookkeeping.

Every Redis-backed piece calls through a `RedisLink`: when a call fails the link logs one WARNING
(naming the feature that now works per process) and tells callers to fall back until `retry_s`
has passed, so a Redis outage costs one failed round trip per feature every few seconds, not one
per request.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

log = logging.getLogger("stickerbot.state")

KEY_PREFIX = "sb:"


def redis_errors() -> tuple[type[BaseException], ...]:
    import redis

    return (redis.RedisError, OSError, TimeoutError)


class RedisLink:
    """A redis-py asyncio client plus a process id and the outage state."""

    def __init__(self, url: str, *, timeout_s: float = 2.0, retry_s: float = 5.0) -> None:
        import redis.asyncio as aioredis

        self.url = url
        self.client: Any = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, health_check_interval=30
        )
        self.process_id = uuid.uuid4().hex[:12]
        self.retry_s = retry_s
        self._down_until = 0.0
        self._warned: set[str] = set()

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def failed(self, feature: str, exc: BaseException) -> None:
        """Record an outage; the first one per feature is logged."""
        self._down_until = time.monotonic() + self.retry_s
        if feature not in self._warned:
            self._warned.add(feature)
            log.warning("Redis unreachable (%s): %s falls back to per-process state", _short(exc), feature)

    def skipped(self, feature: str) -> None:
        """`feature` used its per-process twin because Redis is known to be down (logged once)."""
        if feature not in self._warned:
            self._warned.add(feature)
            log.warning("Redis unreachable: %s falls back to per-process state", feature)

    def mark_down(self) -> None:
        self._down_until = time.monotonic() + self.retry_s

    def recovered(self, feature: str) -> None:
        if feature in self._warned:
            self._warned.discard(feature)
            log.warning("Redis reachable again: %s is shared again", feature)

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:160]


def redact(url: str) -> str:
    from bot.storage.database import redact_url

    return redact_url(url)
