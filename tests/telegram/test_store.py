"""The adapter's tables (file ids, pack names) on both databases the core supports."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.telegram.store import TelegramStore
from bot.storage import open_database


async def _round_trip(url: str) -> None:
    db = await open_database(url)
    try:
        store = TelegramStore(db)
        await store.open()
        await store.open()  # idempotent
        assert await store.file_id("abc") is None
        await store.remember_file_id("abc", "F1")
        await store.remember_file_id("abc", "F2")  # a re-upload replaces the id
        await store.remember_pack("42", "stickers_42_by_bot")
        fresh = TelegramStore(db)  # no in-memory cache: reads the database
        assert await fresh.file_id("abc") == "F2"
        assert await fresh.pack_name("42") == "stickers_42_by_bot"
        assert await fresh.pack_name("43") is None
    finally:
        await db.close()


async def test_store_on_sqlite(tmp_path: Path) -> None:
    await _round_trip(f"sqlite:///{tmp_path}/bot.db")


@pytest.mark.postgres
async def test_store_on_postgresql(postgres_url: str) -> None:
    await _round_trip(postgres_url)


async def test_store_without_a_database_keeps_state_in_memory() -> None:
    store = TelegramStore.for_service(object())
    await store.open()
    await store.remember_file_id("abc", "F1")
    assert await store.file_id("abc") == "F1"
