from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from bot.cache import ResultIndex, StickerCache, StickerStore, result_key, sha256_hex
from bot.storage import open_database


def blob(i: int, size: int = 1000) -> bytes:
    return (f"sticker-{i}-".encode() * size)[:size]


async def test_put_get_roundtrip_and_content_addressing(tmp_path: Path) -> None:
    store = StickerStore(tmp_path / "cache", 10_000_000)
    sha = await store.put(b"hello")
    assert sha == sha256_hex(b"hello")
    assert await store.get(sha) == b"hello"
    assert await store.put(b"hello") == sha  # stored once
    assert store.total_bytes == 5
    assert (tmp_path / "cache" / sha[:2] / sha).read_bytes() == b"hello"


@pytest.mark.parametrize(
    "bad", ["../../etc/passwd", "a" * 63, "A" * 64, "g" * 64, "", "/" + "a" * 63, "a" * 64 + "/.."]
)
async def test_only_hashes_are_accepted(tmp_path: Path, bad: str) -> None:
    store = StickerStore(tmp_path / "cache", 1000)
    assert await store.get(bad) is None


async def test_evicts_least_recently_used_beyond_the_limit(tmp_path: Path) -> None:
    store = StickerStore(tmp_path / "cache", 5_000)
    shas = [await store.put(blob(i)) for i in range(4)]
    assert await store.get(shas[0]) is not None  # 0 is now the most recently used
    await store.put(blob(4))  # 5,000 bytes: over the limit → evict down to 90%
    await store.put(blob(5))
    assert store.total_bytes <= 5_000
    assert await store.get(shas[0]) is not None
    assert await store.get(shas[1]) is None
    assert await store.get(shas[2]) is None


async def test_recency_and_size_survive_a_restart(tmp_path: Path) -> None:
    store = StickerStore(tmp_path / "cache", 3_500)
    shas = [await store.put(blob(i)) for i in range(3)]
    old = time.time() - 100
    for i, sha in enumerate(shas):
        os.utime(tmp_path / "cache" / sha[:2] / sha, (old + i, old + i))
    reopened = StickerStore(tmp_path / "cache", 3_500)
    reopened.load()
    assert reopened.total_bytes == 3_000
    await reopened.put(blob(9))
    assert await reopened.get(shas[0]) is None  # the oldest went first
    assert await reopened.get(shas[2]) is not None


async def test_damaged_file_is_a_miss(tmp_path: Path) -> None:
    store = StickerStore(tmp_path / "cache", 10_000)
    sha = await store.put(b"good bytes")
    (tmp_path / "cache" / sha[:2] / sha).write_bytes(b"bad")
    assert await store.get(sha) is None
    assert sha not in store


def test_concurrent_writers_and_readers_never_see_partial_files(tmp_path: Path) -> None:
    stores = [StickerStore(tmp_path / "cache", 200_000) for _ in range(2)]  # two "processes"
    for s in stores:
        s.load()
    payloads = [blob(i, 20_000) for i in range(30)]
    errors: list[str] = []

    def work(k: int) -> None:
        store = stores[k % 2]
        for i, data in enumerate(payloads):
            if (i + k) % 3 == 0:
                sha = store.put_sync(data)
            else:
                sha = sha256_hex(data)
            got = store.get_sync(sha)
            if got is not None and got != data:
                errors.append(f"partial read of {i}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert not list((tmp_path / "cache").glob("*/.tmp-*"))
    for s in stores:
        assert s.total_bytes <= 200_000


async def test_result_index_maps_keys_to_files(tmp_path: Path) -> None:
    db = await open_database(f"sqlite:///{tmp_path}/db.sqlite")
    try:
        cache = StickerCache(StickerStore(tmp_path / "cache", 100_000), ResultIndex(db))
        key = result_key(prompt="sad, otter", style="otter", seed=1, count=2, outline=None)
        assert key == result_key(count=2, outline=None, seed=1, style="otter", prompt="sad, otter")
        assert key != result_key(prompt="sad, otter", style="otter", seed=2, count=2, outline=None)
        assert await cache.lookup(key) is None
        hashes = await cache.remember(key, [b"one", b"two"])
        assert await cache.lookup(key) == [(hashes[0], b"one"), (hashes[1], b"two")]
        (tmp_path / "cache" / hashes[1][:2] / hashes[1]).unlink()  # evicted by another process
        assert await cache.lookup(key) is None
    finally:
        await db.close()
