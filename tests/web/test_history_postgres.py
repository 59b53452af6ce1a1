"""Room history on PostgreSQL: the "web" migrations' PostgreSQL statements, ids and sticker copies."""

from __future__ import annotations

import hashlib

import pytest

from tests.web.conftest import Harness

pytestmark = pytest.mark.postgres


async def test_history_and_stickers_survive_a_restart_on_postgresql(chat: Harness, postgres_url: str) -> None:
    room = await chat(database_url=postgres_url)
    assert room.service.database.dialect == "postgresql"
    alice = await room.join("Alice")
    await alice.send("chat", text="on postgres")
    first = await alice.message("chat")
    await alice.send("chat", text="/sticker eating otter")
    sticker = (await alice.message("sticker"))["sticker"]
    assert first["id"] >= 1

    restarted = await chat(database_url=postgres_url)
    bob = await restarted.join("Bob")
    history = bob.welcome["history"]
    assert [m["text"] for m in history] == ["on postgres", "eating otter"]
    assert history[1]["id"] > history[0]["id"]
    assert bob.welcome["recent"] == [sticker["sha256"]]
    assert await restarted.adapter.chat.history.sticker_bytes(sticker["sha256"]) is not None
    resp = await restarted.client.get(sticker["url"])
    assert hashlib.sha256(await resp.read()).hexdigest() == sticker["sha256"]

    late = await restarted.join("Carol", last_id=first["id"])
    assert [m["text"] for m in late.welcome["history"]] == ["eating otter"]
