"""Issue 13.1: a full disk or a failing database never loses a sticker that was made, nor a chat line.

Before the fix, `history.keep_sticker` raising "database or disk is full" inside the posting step
turned every made sticker into "Sorry, something went wrong", and a chat line closed the connection.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from tests.reliability.web_server import LiveRoom, fill_sqlite, running_room
from tests.web.conftest import Peer

STICKERS = 6


async def assert_room_keeps_working(room: LiveRoom, alice: Peer, bob: Peer) -> None:
    posted = []
    for i in range(STICKERS):  # one after another: a person has at most 3 on the way
        await alice.send("chat", text=f"/sticker otter number {i}")
        posted.append(await bob.message("sticker"))
    assert sorted(m["text"] for m in posted) == [f"otter number {i}" for i in range(STICKERS)]
    assert all(m["id"] < 0 for m in posted)  # shown, marked as not kept
    notices = [f for f in await alice.quiet(0.3) if f["type"] in ("notice", "error")]
    assert notices == []  # nobody is told "something went wrong"
    for m in posted[:2]:  # the pictures are served from the sticker store
        async with room.http.get(room.url + m["sticker"]["url"]) as resp:
            assert hashlib.sha256(await resp.read()).hexdigest() == m["sticker"]["sha256"]

    await alice.send("chat", text="a chat line on a full disk")
    line = await bob.message("chat")
    assert line["text"] == "a chat line on a full disk" and line["id"] < 0
    assert (await alice.message("chat"))["text"] == "a chat line on a full disk"  # her own line, too
    await bob.send("chat", text="and the connection stays open")
    assert (await alice.message("chat"))["text"] == "and the connection stays open"
    assert not alice.ws.closed and not bob.ws.closed


def store_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "stickerbot.web" and "could not store" in r.getMessage()]


async def test_full_sqlite_disk_loses_no_sticker(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with running_room(tmp_path) as room:
        alice = await room.join("Alice")
        bob = await room.join("Bob")
        await alice.send("chat", text="before the disk filled up")
        assert (await bob.message("chat"))["id"] > 0
        await fill_sqlite(room.service.database)

        await assert_room_keeps_working(room, alice, bob)
    warnings = store_warnings(caplog)
    assert len(warnings) == 1  # logged once (rate-limited), not per message
    assert warnings[0].levelno == logging.WARNING and warnings[0].exc_info is None
    assert "database or disk is full" in warnings[0].getMessage()


@pytest.mark.postgres
async def test_failing_postgresql_writes_lose_no_sticker(
    tmp_path: Path, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running_room(tmp_path, database_url=postgres_url) as room:
        assert room.service.database.dialect == "postgresql"
        alice = await room.join("Alice")
        bob = await room.join("Bob")
        # Every later write on the bot's connection fails, reads still work.
        await room.service.database.execute("SET default_transaction_read_only = on")

        await assert_room_keeps_working(room, alice, bob)
    warnings = store_warnings(caplog)
    assert len(warnings) == 1 and "read-only" in warnings[0].getMessage()
