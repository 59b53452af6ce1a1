"""A burst of 100 slash commands from 10 servers: every one deferred inside 3 s and answered with stickers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.discord.conftest import StartBot, option
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fake_engine import FakeEngine
from tests.fakes.service_factory import make_service


async def test_hundred_interactions_from_ten_servers_are_all_answered(
    start_bot: StartBot, fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    guilds = [fake_discord.add_guild(f"server {i}", members=10) for i in range(10)]
    engine = FakeEngine(delay_s=0.01, max_batch=4)
    svc = await make_service(tmp_path / "burst", engine)
    try:
        await start_bot(svc)
        interactions = []
        for round_ in range(10):
            for guild in guilds:
                user = guild.members[round_]
                prompt = f"otter number {round_} in {guild.name}"
                interactions.append(
                    await fake_discord.slash(guild, user, "sticker", [option("prompt", prompt)])
                )
        await asyncio.gather(*(fake_discord.wait_answered(i, within_s=60) for i in interactions))

        assert all(i.callback_type == 5 for i in interactions)  # each deferred (the fake checks the 3 s)
        assert all(len(i.sticker_messages()) == 1 for i in interactions)
        assert len(engine.ran) == 100
        waited = [i for i in interactions if any(h.startswith("⏳") for h in i.original.history)]  # type: ignore[union-attr]
        assert waited  # with 4 engine slots, most of the burst queued and was told its place in line
    finally:
        await svc.close()
