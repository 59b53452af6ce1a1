"""The sticker cache shared by processes: each process keeps its own disk store (`bot.cache.StickerStore`)
as the first level, and a shared tier holds every sticker's bytes for the others.

The result index (what made a result → its hashes) is already in the database, so with PostgreSQL as
`storage.url` every process sees every entry; the missing piece was the files. The shared tier is a
PostgreSQL table (`state_sticker_blobs`): docs/scaling/shared-state.md has the measurement behind the
choice (Redis was faster per read, but it is only read on a process's first miss per sticker, and
keeping blobs out of Redis keeps its memory — and `maxmemory` eviction — away from the limit and lease
keys). `RedisBlobs` is kept for setups whose database is not shared (SQLite per process).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Protocol

from bot.cache import StickerStore, is_sha256, sha256_hex
from bot.state.redis_link import KEY_PREFIX, RedisLink, redis_errors
from bot.storage import Database, DatabaseError
from bot.storage.migrations import register_migrations

log = logging.getLogger("stickerbot.state")

NAMESPACE = "state"
register_migrations(
    NAMESPACE,
    [
        {
            "sqlite": "CREATE TABLE state_sticker_blobs (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL, "
            "size INTEGER NOT NULL, used_at DOUBLE PRECISION NOT NULL)",
            "postgresql": "CREATE TABLE state_sticker_blobs (sha256 TEXT PRIMARY KEY, data BYTEA NOT NULL, "
            "size INTEGER NOT NULL, used_at DOUBLE PRECISION NOT NULL)",
        },
        "CREATE INDEX state_sticker_blobs_used ON state_sticker_blobs (used_at)",
    ],
)


class BlobTier(Protocol):
    async def get(self, sha: str) -> bytes | None: ...
    async def put(self, sha: str, data: bytes) -> None: ...


class DatabaseBlobs:
    """Sticker bytes in the (shared) database, trimmed to `max_bytes` least recently written first."""

    def __init__(self, db: Database, max_bytes: int, *, trim_every: int = 50) -> None:
        self.db = db
        self.max_bytes = max_bytes
        self._trim_every = trim_every
        self._puts = 0

    async def get(self, sha: str) -> bytes | None:
        row = await self.db.fetchone("SELECT data FROM state_sticker_blobs WHERE sha256 = ?", (sha,))
        return None if row is None else bytes(row[0])

    async def put(self, sha: str, data: bytes) -> None:
        await self.db.execute(
            "INSERT INTO state_sticker_blobs (sha256, data, size, used_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (sha256) DO UPDATE SET used_at = excluded.used_at",
            (sha, data, len(data), time.time()),
        )
        self._puts += 1
        if self._puts % self._trim_every == 0:
            await self.trim()

    async def trim(self) -> int:
        row = await self.db.fetchone("SELECT COALESCE(SUM(size), 0) FROM state_sticker_blobs")
        total = int(row[0]) if row else 0
        if total <= self.max_bytes:
            return 0
        rows = await self.db.fetchall("SELECT sha256, size FROM state_sticker_blobs ORDER BY used_at")
        victims: list[str] = []
        target = int(self.max_bytes * 0.9)
        for sha, size in rows:
            if total <= target:
                break
            victims.append(str(sha))
            total -= int(size)
        for sha in victims:
            await self.db.execute("DELETE FROM state_sticker_blobs WHERE sha256 = ?", (sha,))
        return len(victims)


class RedisBlobs:
    """Sticker bytes in Redis with a time to live."""

    def __init__(self, link: RedisLink, ttl_s: float) -> None:
        self.link = link
        self.ttl_s = ttl_s

    async def get(self, sha: str) -> bytes | None:
        value = await self.link.client.get(f"{KEY_PREFIX}blob:{sha}")
        return None if value is None else bytes(value)

    async def put(self, sha: str, data: bytes) -> None:
        await self.link.client.set(f"{KEY_PREFIX}blob:{sha}", data, ex=max(1, int(self.ttl_s)))


class TieredStickerStore(StickerStore):
    """The local disk store in front of a shared tier: writes go to both, a local miss reads the tier."""

    def __init__(self, root: str | os.PathLike[str], max_bytes: int, tier: BlobTier) -> None:
        super().__init__(root, max_bytes)
        self.tier = tier
        self._warned = False

    def _tier_failed(self, exc: BaseException) -> None:
        if not self._warned:
            self._warned = True
            log.warning("shared sticker cache unavailable (%s); using this process's cache only", exc)

    async def put(self, data: bytes) -> str:
        sha = await super().put(data)
        try:
            await self.tier.put(sha, data)
        except (DatabaseError, *redis_errors()) as exc:
            self._tier_failed(exc)
        return sha

    async def get(self, sha: str) -> bytes | None:
        data = await super().get(sha)
        if data is not None or not is_sha256(sha):
            return data
        try:
            data = await self.tier.get(sha)
        except (DatabaseError, *redis_errors()) as exc:
            self._tier_failed(exc)
            return None
        if data is None or sha256_hex(data) != sha:
            return None
        await asyncio.to_thread(self.put_sync, data)  # the next read is local
        return data
