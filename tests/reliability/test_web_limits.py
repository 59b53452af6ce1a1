"""Issue 13.2: limits count per client address (behind a trusted proxy), not per chosen session or room.

Before the fix a fresh session id was a new user and any room name a new "server": one client
pushed 120 requests through with no "Slow down" while a legitimate user was told "I'm very busy".
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from bot.config import LimitsConfig, WebConfig
from tests.fakes.fake_engine import FakeEngine
from tests.reliability.web_server import LiveRoom, running_room

PROXY = {"trusted_proxy_header": "X-Forwarded-For", "trusted_proxies": ["127.0.0.1"]}
FLOODER = {"X-Forwarded-For": "203.0.113.66"}
NEIGHBOUR = {"X-Forwarded-For": "198.51.100.7"}


async def try_join(room: LiveRoom, name: str, room_name: str, headers: dict[str, str]) -> dict[str, Any]:
    """Join with a brand-new session; the welcome, or the error frame the server closed with."""
    peer = await room.connect(**headers)
    await peer.send("hello", name=name, room=room_name, session=secrets.token_hex(16))
    frame = await peer.recv()
    if frame["type"] == "welcome":
        frame["peer"] = peer
    else:
        code, _ = await peer.closed()
        frame["close"] = code
    return frame


async def test_fresh_sessions_and_rooms_are_capped_per_address(tmp_path: Path) -> None:
    web = WebConfig(port=0, max_sessions_per_address=4, max_rooms_per_address=6, **PROXY)
    async with running_room(tmp_path, web=web) as room:
        answers = [await try_join(room, f"bot{i}", f"flood{i}", FLOODER) for i in range(10)]
        joined = [a for a in answers if a["type"] == "welcome"]
        refused = [a for a in answers if a["type"] == "error"]
        assert len(joined) == 4 and len(refused) == 6
        assert all(a["code"] == "refused" and a["close"] == 4429 for a in refused)
        assert "Too many sessions from your address" in refused[0]["text"]
        # Another address is not affected by that flood.
        assert (await try_join(room, "Neighbour", "lobby", NEIGHBOUR))["type"] == "welcome"


@pytest.mark.slow
async def test_a_flood_from_one_address_cannot_starve_another(tmp_path: Path) -> None:
    limits = LimitsConfig(
        user_per_minute=30, server_per_minute=30, user_burst=5, server_burst=8, max_in_flight=1, max_waiting=6
    )
    web = WebConfig(port=0, max_pending_per_address=3, **PROXY)
    engine = FakeEngine(delay_s=0.05, max_batch=1)
    async with running_room(tmp_path, web=web, engine=engine, limits=limits) as room:
        flood = [(await try_join(room, f"bot{i}", f"flood{i}", FLOODER))["peer"] for i in range(4)]
        neighbour = (await try_join(room, "Neighbour", "lobby", NEIGHBOUR))["peer"]
        answers: list[str] = []
        began = time.monotonic()
        for _round in range(5):  # bounded: 5 rounds of 3 requests per connection
            for n, peer in enumerate(flood):
                for k in range(3):
                    await peer.send("sticker", prompt=f"flood {_round} {n} {k}")
            await neighbour.send("sticker", prompt=f"my own otter {_round}")
            got = await neighbour.expect("message", wait_s=15)
            assert got["message"]["text"] == f"my own otter {_round}"  # never "busy", never starved
            for peer in flood:
                for frame in await peer.quiet(0.5):
                    if frame["type"] == "notice":
                        answers.append(frame["text"])
                    elif frame["type"] == "message" and frame["message"]["kind"] == "sticker":
                        answers.append("sticker")
        refill = limits.server_per_minute * (time.monotonic() - began) / 60
        made = answers.count("sticker")
        capped = sum("network address already has" in a for a in answers)
        slowed = sum(a.startswith("Slow down") for a in answers)
        assert capped >= 30  # 12 asked per round, at most 3 on the way for the address
        assert slowed >= 1  # the address's own rate limit, whatever sessions and rooms it uses
        assert made <= limits.server_burst + refill + 1  # the address's burst plus its per-minute refill
        assert "I'm very busy" not in " ".join(answers)


async def test_forwarded_header_is_believed_only_from_trusted_proxies(tmp_path: Path) -> None:
    web = WebConfig(port=0, max_connections_per_address=2, trusted_proxy_header="X-Forwarded-For")
    async with running_room(tmp_path, web=web) as room:  # no trusted proxies: the header is ignored
        answers = [
            await try_join(room, f"spoof{i}", "lobby", {"X-Forwarded-For": f"10.9.9.{i}"}) for i in range(3)
        ]
        assert [a["type"] for a in answers] == ["welcome", "welcome", "error"]
        assert "Too many connections from your address" in answers[2]["text"]

    web = WebConfig(port=0, max_connections_per_address=2, **PROXY)
    async with running_room(tmp_path, web=web) as room:
        # Behind the proxy, the right-most untrusted hop counts; what the client wrote further left doesn't.
        hops = [f"10.9.9.{i}, 192.0.2.1" for i in range(3)]
        answers = [
            await try_join(room, f"hop{i}", "lobby", {"X-Forwarded-For": h}) for i, h in enumerate(hops)
        ]
        assert [a["type"] for a in answers] == ["welcome", "welcome", "error"]
        answers = [
            await try_join(room, f"real{i}", "lobby", {"X-Forwarded-For": f"192.0.2.{10 + i}"})
            for i in range(3)
        ]
        assert [a["type"] for a in answers] == ["welcome"] * 3
