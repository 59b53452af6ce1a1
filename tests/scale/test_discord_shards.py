"""Discord with 2 shards over 2 bot processes against the fake gateway: each interaction answered once,
by the process that holds the guild's shard ((guild_id >> 22) % shard_count)."""

from __future__ import annotations

import pytest

from tests.fakes.discord_server import FakeDiscord, snowflake

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def discord_section(fake: FakeDiscord, shard: int) -> str:
    return (
        f"discord:\n  enabled: true\n  token: {fake.token!r}\n  api_base_url: {fake.api_base_url}\n"
        f"  gateway_url: {fake.gateway_url}\n  shards: 2\n  shard_ids: [{shard}]\n"
    )


async def test_two_shards_over_two_processes(start_bots, fake_discord: FakeDiscord) -> None:
    by_shard: dict[int, list] = {0: [], 1: []}
    while min(len(v) for v in by_shard.values()) < 2:  # two test servers on each shard
        guild = fake_discord.add_guild(f"g{sum(map(len, by_shard.values()))}")
        if len(by_shard[(guild.id >> 22) % 2]) < 2:
            by_shard[(guild.id >> 22) % 2].append(guild)
        else:
            del fake_discord.guilds[guild.id]
            snowflake()  # shift the next guild id's timestamp part onto the other shard
    guilds = by_shard[0] + by_shard[1]
    a, b = await start_bots(2, extra=lambda i: discord_section(fake_discord, i))
    assert sorted(tuple(i["shard"]) for i in fake_discord.identifies) == [(0, 2), (1, 2)]
    interactions = []
    for n, guild in enumerate(guilds):
        option = {"name": "prompt", "type": 3, "value": f"otter number {n}"}
        interactions.append((guild, await fake_discord.slash(guild, guild.members[0], "sticker", [option])))
    try:
        for _guild, inter in interactions:
            await fake_discord.wait_answered(inter, within_s=10)
            assert len(inter.sticker_messages()) == 1, inter.texts()
    except AssertionError:
        raise AssertionError(f"{fake_discord.violations}\n--- a:\n{a.text}\n--- b:\n{b.text}") from None
    on_shard = [sum(1 for g, _ in interactions if (g.id >> 22) % 2 == s) for s in (0, 1)]
    assert await a.metric("stickerbot_requests_total") == on_shard[0]
    assert await b.metric("stickerbot_requests_total") == on_shard[1]
