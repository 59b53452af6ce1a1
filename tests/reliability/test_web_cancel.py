"""Issue 13.3 (web side): a request whose asker has left is cancelled before it reaches the model.

Before the fix, 84 requests of clients that had disconnected were still generated over 4 minutes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.fakes.fake_engine import FakeEngine
from tests.reliability.web_server import running_room


def prompts(engine: FakeEngine) -> list[str]:
    return [r.prompt for r in engine.ran]


@pytest.mark.slow
async def test_requests_of_a_client_that_left_never_reach_the_model(tmp_path: Path) -> None:
    engine = FakeEngine(delay_s=0.8, max_batch=1)
    async with running_room(tmp_path, engine=engine) as room:
        alice = await room.join("Alice")
        bob = await room.join("Bob")
        await alice.send("sticker", prompt="otter first in line")
        await alice.expect("pending", wait_s=5)
        for word in ("zebra", "walrus", "yak"):
            await bob.send("sticker", prompt=f"{word} waiting in line")
        seen = {(await alice.expect("pending"))["pending"]["prompt"] for _ in range(3)}
        assert seen >= {"zebra waiting in line"}
        await bob.close()  # Bob leaves while his three wait for the engine

        assert (await alice.message("sticker"))["text"] == "otter first in line"
        await asyncio.sleep(3 * engine.delay_s + 0.5)  # long enough for Bob's three to have been drawn
        assert not any(w in p for p in prompts(engine) for w in ("zebra", "walrus", "yak"))
        assert len(prompts(engine)) == 1
        assert room.chat.jobs.inflight.running == 0
        assert not room.chat.rooms.get("lobby").pending  # their placeholders are gone for everyone


async def test_a_request_goes_on_while_its_asker_has_another_tab_open(tmp_path: Path) -> None:
    engine = FakeEngine(delay_s=0.5, max_batch=1)
    async with running_room(tmp_path, engine=engine) as room:
        alice = await room.join("Alice")
        bob = await room.join("Bob")
        bob_tab2 = await room.join("Bob", session=bob.welcome["you"]["session"])
        await alice.send("sticker", prompt="otter first in line")
        await bob.send("sticker", prompt="zebra still wanted")
        await bob.expect("pending")
        await bob.close()
        texts = {(await bob_tab2.message("sticker"))["text"] for _ in range(2)}
        assert texts == {"otter first in line", "zebra still wanted"}
        assert any("zebra" in p for p in prompts(engine))
