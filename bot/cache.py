"""The sticker cache: a content-addressed file store bounded by size, plus a result index.

`StickerStore` keeps each sticker file once, named by its SHA-256, under
`<cache_dir>/<first two hex chars>/<sha256>`. Writes go to a temporary file in the same directory
and are renamed into place, so readers (other tasks or processes) never see half a file. Reading
a file marks it recently used; when the store grows past its limit, the least recently used
files are deleted until it is back under 90% of the limit.

`ResultIndex` maps what made a result (prompt, style, seed, count, outline, …) to the hashes of
the files it produced, in the database, so the same request is answered without generating.
An entry whose files have been evicted is a miss.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

from bot.storage import Database

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def is_sha256(value: str) -> bool:
    return bool(_SHA256.match(value))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class StickerStore:
    """Disk-backed, size-bounded, LRU-evicting store of sticker files keyed by content hash."""

    def __init__(self, root: str | os.PathLike[str], max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max(1, int(max_bytes))
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, int] = OrderedDict()  # sha → size, least recently used first
        self._total = 0
        self._loaded = False

    # ------------------------------------------------------------------ sync core (runs in threads)
    def _path(self, sha: str) -> Path:
        return self.root / sha[:2] / sha

    def load(self) -> None:
        """Index the files already on disk (oldest modification first)."""
        self.root.mkdir(parents=True, exist_ok=True)
        found: list[tuple[float, str, int]] = []
        for sub in self.root.iterdir():
            if not sub.is_dir() or len(sub.name) != 2:
                continue
            for entry in os.scandir(sub):
                if entry.is_file() and is_sha256(entry.name):
                    st = entry.stat()
                    found.append((st.st_mtime, entry.name, st.st_size))
                elif entry.name.startswith(".tmp-") and time.time() - entry.stat().st_mtime > 3600:
                    Path(entry.path).unlink(missing_ok=True)  # left over by a killed writer
        with self._lock:
            self._entries.clear()
            self._total = 0
            for _mtime, sha, size in sorted(found):
                self._entries[sha] = size
                self._total += size
            self._loaded = True
        self._evict(keep=None)

    def put_sync(self, data: bytes) -> str:
        if not self._loaded:
            self.load()
        sha = sha256_hex(data)
        path = self._path(sha)
        with self._lock:
            known = sha in self._entries
        if known and path.exists():
            self._touch(sha, path)
            return sha
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        with self._lock:
            old = self._entries.pop(sha, 0)
            self._entries[sha] = len(data)
            self._total += len(data) - old
        self._evict(keep=sha)
        return sha

    def get_sync(self, sha: str) -> bytes | None:
        if not is_sha256(sha):
            return None
        if not self._loaded:
            self.load()
        path = self._path(sha)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            with self._lock:
                self._total -= self._entries.pop(sha, 0)
            return None
        if sha256_hex(data) != sha:  # damaged on disk: drop it, the caller regenerates
            path.unlink(missing_ok=True)
            with self._lock:
                self._total -= self._entries.pop(sha, 0)
            return None
        if self._touch(sha, path):
            self._evict(keep=sha)  # another process wrote it: it counts against the limit now
        return data

    def _touch(self, sha: str, path: Path) -> bool:
        """Mark `sha` as just used; returns True when it was not indexed before."""
        added = False
        with self._lock:
            if sha in self._entries:
                self._entries.move_to_end(sha)
            else:
                try:
                    size = path.stat().st_size
                except FileNotFoundError:
                    return False
                self._entries[sha] = size
                self._total += size
                added = True
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)  # recency survives a restart
        return added

    def _evict(self, keep: str | None) -> None:
        victims: list[str] = []
        with self._lock:
            if self._total <= self.max_bytes:
                return
            target = int(self.max_bytes * 0.9)
            for sha in list(self._entries):
                if self._total <= target:
                    break
                if sha == keep:
                    continue
                self._total -= self._entries.pop(sha)
                victims.append(sha)
        for sha in victims:
            self._path(sha).unlink(missing_ok=True)

    # ------------------------------------------------------------------ async API
    async def put(self, data: bytes) -> str:
        """Store `data`; returns its SHA-256 (hex)."""
        return await asyncio.to_thread(self.put_sync, data)

    async def get(self, sha: str) -> bytes | None:
        """The stored bytes, or None (unknown hash, evicted, or not a hash at all)."""
        return await asyncio.to_thread(self.get_sync, sha)

    @property
    def total_bytes(self) -> int:
        return self._total

    def __contains__(self, sha: str) -> bool:
        return sha in self._entries


def result_key(**parts: object) -> str:
    """A stable key for what made a result (any JSON-serialisable parts)."""
    return sha256_hex(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode())


class ResultIndex:
    """(prompt, style, seed, count, …) → sticker hashes, in the database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, key: str) -> tuple[str, ...] | None:
        row = await self._db.fetchone("SELECT hashes FROM core_result_index WHERE cache_key = ?", (key,))
        return None if row is None else tuple(str(row[0]).split())

    async def put(self, key: str, hashes: tuple[str, ...]) -> None:
        await self._db.execute(
            "INSERT INTO core_result_index (cache_key, hashes, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (cache_key) DO UPDATE SET hashes = excluded.hashes, "
            "created_at = excluded.created_at",
            (key, " ".join(hashes), time.time()),
        )

    async def prune(self, older_than_s: float) -> int:
        return await self._db.execute(
            "DELETE FROM core_result_index WHERE created_at < ?", (time.time() - older_than_s,)
        )


class StickerCache:
    """The store and the index together: `lookup(key)` → files, or None; `remember(key, files)`."""

    def __init__(self, store: StickerStore, index: ResultIndex) -> None:
        self.store = store
        self.index = index

    async def lookup(self, key: str) -> list[tuple[str, bytes]] | None:
        hashes = await self.index.get(key)
        if not hashes:
            return None
        found: list[tuple[str, bytes]] = []
        for sha in hashes:
            data = await self.store.get(sha)
            if data is None:
                return None
            found.append((sha, data))
        return found

    async def remember(self, key: str, files: list[bytes]) -> tuple[str, ...]:
        hashes = tuple([await self.store.put(data) for data in files])
        await self.index.put(key, hashes)
        return hashes
