"""Issue 13.5: presence sends one change and a count, not the member list; rooms and addresses are capped.

Before the fix every join or leave sent the full member list to everyone: traffic grew with the
cube of the room size (400 connections into one room made the server send 2.5 GB).
"""

from __future__ import annotations

import json
from pathlib import Path

from bot.config import WebConfig
from tests.reliability.test_web_limits import PROXY, try_join
from tests.reliability.web_server import running_room

JOINS = 60


async def test_presence_traffic_grows_linearly(tmp_path: Path) -> None:
    web = WebConfig(port=0, max_connections_per_room=JOINS + 5, **PROXY)
    async with running_room(tmp_path, web=web) as room:
        first = await room.join("First", headers={"X-Forwarded-For": "192.0.2.250"})
        peers = []
        for i in range(JOINS):
            peers.append(await room.join(f"user{i:03d}", headers={"X-Forwarded-For": f"192.0.2.{i}"}))
        for peer in peers[: JOINS // 2]:
            await peer.close()
        presence = [f for f in await first.quiet(1.0) if f["type"] == "presence"]
        last = peers[-1].welcome
        assert last["count"] == JOINS + 1 and len(last["members"]) == JOINS + 1
    assert len(presence) == 1 + JOINS + JOINS // 2  # one frame per change (her own join first)
    assert all("members" not in f for f in presence)  # a change each, never the list
    assert all(("joined" in f) != ("left" in f) for f in presence)
    for frame in presence:
        members = first._apply_presence(frame)
    assert [m["name"] for m in members] == ["First", *(f"user{i:03d}" for i in range(JOINS // 2, JOINS))]
    assert first.member_count == JOINS // 2 + 1
    # What one member receives for 60 joins and 30 leaves: 90 small frames, not 90 lists.
    assert max(len(json.dumps(f)) for f in presence) < 150


async def test_full_room_and_busy_address_get_a_clear_refusal(tmp_path: Path) -> None:
    web = WebConfig(port=0, max_connections_per_room=5, max_connections_per_address=3, **PROXY)
    async with running_room(tmp_path, web=web) as room:
        inside = [
            await try_join(room, f"u{i}", "small", {"X-Forwarded-For": f"192.0.2.{i}"}) for i in range(5)
        ]
        assert [a["type"] for a in inside] == ["welcome"] * 5  # (kept referenced: each holds its socket)
        full = await try_join(room, "late", "small", {"X-Forwarded-For": "192.0.2.99"})
        assert full["type"] == "error" and full["close"] == 4429 and "This room is full" in full["text"]
        # Another room is open to the same newcomer.
        assert (await try_join(room, "late", "other", {"X-Forwarded-For": "192.0.2.99"}))["type"] == "welcome"

        same = {"X-Forwarded-For": "198.51.100.1"}
        answers = [await try_join(room, f"tab{i}", f"room{i}", same) for i in range(4)]
        assert [a["type"] for a in answers] == ["welcome"] * 3 + ["error"]
        assert "Too many connections from your address (at most 3)" in answers[3]["text"]
