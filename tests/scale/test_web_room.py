"""The web room over two bot processes: what is said on A reaches people on B, presence counts both."""

from __future__ import annotations

import pytest

from tests.scale.cluster import RoomClient

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


async def test_messages_and_presence_cross_processes(start_bots) -> None:
    a, b = await start_bots(2)
    async with RoomClient(a.url, name="ann", room="den") as on_a:
        async with RoomClient(b.url, name="bob", room="den") as on_b:
            joined = await on_a.wait_for(
                lambda f: f["type"] == "presence" and f.get("joined", {}).get("name") == "bob"
            )
            assert joined["count"] == 2  # one person on each process
            await on_a.send("chat", text="hello from A")
            heard = await on_b.wait_for(
                lambda f: f["type"] == "message" and f["message"]["text"] == "hello from A"
            )
            assert heard["message"]["author"]["name"] == "ann"
            echoed = await on_a.wait_for(
                lambda f: f["type"] == "message" and f["message"]["text"] == "hello from A"
            )
            assert echoed["message"]["id"] == heard["message"]["id"]  # one message, stored once
            sticker = await on_b.sticker("waving otter")
            assert sticker["type"] == "message"
            seen = await on_a.wait_for(lambda f: f["type"] == "message" and "sticker" in f["message"])
            assert seen["message"]["sticker"]["sha256"] == sticker["message"]["sticker"]["sha256"]
        left = await on_a.wait_for(
            lambda f: f["type"] == "presence" and f.get("left", {}).get("name") == "bob"
        )
        assert left["count"] == 1
    async with RoomClient(b.url, name="cy", room="den") as late:  # history is in the shared database
        texts = [m["text"] for m in late.welcome.get("history", late.welcome.get("messages", []))]
        assert "hello from A" in texts, late.welcome.keys()
