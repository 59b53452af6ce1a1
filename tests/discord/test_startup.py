"""Connecting: endpoints, token, minimal intents, one command sync, guild sync, sharding, clean stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import discord
import discord.gateway
import discord.http
import pytest

from adapters.discord import DiscordAdapter, endpoints
from adapters.discord.context import SHUTTING_DOWN
from bot.config import AppConfig, ConfigError, DiscordConfig
from bot.service import StickerService
from tests.discord.conftest import StartBot, option
from tests.fakes.discord_server import FakeDiscord, FakeGuild
from tests.fakes.fake_engine import FakeEngine
from tests.fakes.service_factory import make_service

GUILDS = 1 << 0
GUILD_MESSAGE_REACTIONS = 1 << 10
MESSAGE_CONTENT = 1 << 15


async def test_connects_with_minimal_intents_and_syncs_commands_once(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    [identify] = fake_discord.identifies
    assert identify["intents"] == GUILDS | GUILD_MESSAGE_REACTIONS
    assert not identify["intents"] & MESSAGE_CONTENT
    assert {c["name"] for c in fake_discord.global_commands or []} == {
        "sticker",
        "style",
        "reactions",
        "help",
    }
    for _ in range(3):
        inter = await fake_discord.slash(guild, guild.members[0], "sticker", [option("prompt", "hi")])
        await fake_discord.wait_answered(inter)
    assert len(fake_discord.command_syncs) == 1  # at start-up only, never per event


async def test_commands_describe_their_options(bot: DiscordAdapter, fake_discord: FakeDiscord) -> None:
    commands = {c["name"]: c for c in fake_discord.global_commands or []}
    sticker = {o["name"]: o for o in commands["sticker"]["options"]}
    assert sticker["prompt"]["required"] and sticker["style"]["autocomplete"]
    assert (sticker["count"]["min_value"], sticker["count"]["max_value"]) == (1, 4)
    assert {o["name"] for o in commands["style"]["options"]} == {"list", "set", "preview"}
    assert {o["name"] for o in commands["reactions"]["options"]} == {"on", "off"}


async def test_guild_ids_sync_commands_to_those_servers_only(
    start_bot: StartBot, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    await start_bot(guild_ids=[guild.id])
    assert fake_discord.global_commands is None
    assert {c["name"] for c in fake_discord.guild_commands[guild.id]} == {
        "sticker",
        "style",
        "reactions",
        "help",
    }
    inter = await fake_discord.slash(guild, guild.members[0], "sticker", [option("prompt", "hi")])
    await fake_discord.wait_answered(inter)


async def test_endpoint_overrides_are_restored_after_stop(
    start_bot: StartBot, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    before = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    adapter = await start_bot()
    assert discord.http.Route.BASE == fake_discord.api_base_url
    await adapter.stop()
    assert (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == before


@pytest.mark.parametrize("shards", [0, 2], ids=["recommended", "two"])
async def test_shards_connect_each_to_the_configured_gateway(
    start_bot: StartBot, fake_discord: FakeDiscord, shards: int
) -> None:
    guilds = [fake_discord.add_guild(f"server {i}") for i in range(4)]
    while len({(g.id >> 22) % 2 for g in guilds}) < 2:  # make sure both shards own a test server
        guilds.append(fake_discord.add_guild(f"server {len(guilds)}", members=1))
    await start_bot(shards=shards)  # 0: as many shards as Discord recommends (the fake says 2)
    assert sorted(tuple(i["shard"]) for i in fake_discord.identifies) == [(0, 2), (1, 2)]
    on_each = {tuple(s.shard) for g in guilds for s in fake_discord.sessions if s.owns(g.id)}
    assert on_each == {(0, 2), (1, 2)}  # the test servers really are spread over both shards
    inters = [
        await fake_discord.slash(g, g.members[0], "sticker", [option("prompt", f"hi {i}")])
        for i, g in enumerate(guilds)
    ]
    for inter in inters:
        await fake_discord.wait_answered(inter)


async def test_missing_token_is_a_config_error(
    service: StickerService, monkeypatch: pytest.MonkeyPatch, discord_config: DiscordConfig
) -> None:
    monkeypatch.delenv("STICKERBOT_DISCORD_TOKEN", raising=False)
    config = DiscordConfig(enabled=True, api_base_url=discord_config.api_base_url)
    with pytest.raises(ConfigError, match="STICKERBOT_DISCORD_TOKEN"):
        await DiscordAdapter(config, service, AppConfig()).start()


async def test_token_from_the_environment(
    start_bot: StartBot, fake_discord: FakeDiscord, guild: FakeGuild, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STICKERBOT_DISCORD_TOKEN", fake_discord.token)
    await start_bot(token=None)
    assert fake_discord.identifies[0]["token"] == fake_discord.token


async def test_wrong_token_fails_start_cleanly(
    start_bot: StartBot, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    with pytest.raises(ConfigError, match=r"discord\.token was rejected"):
        await start_bot(token="not-the-token")
    assert discord.http.Route.BASE == "https://discord.com/api/v10"


async def test_stop_lets_replies_in_flight_finish(
    start_bot: StartBot, fake_discord: FakeDiscord, guild: FakeGuild, tmp_path: Path
) -> None:
    svc = await make_service(tmp_path / "slow", FakeEngine(delay_s=0.5))
    try:
        adapter = await start_bot(svc)
        inter = await fake_discord.slash(guild, guild.members[0], "sticker", [option("prompt", "last one")])
        await fake_discord.wait_for(lambda: inter.acknowledged, what="the defer")
        stopping = asyncio.create_task(adapter.stop())
        await asyncio.sleep(0.05)
        late = await fake_discord.slash(guild, guild.members[1], "sticker", [option("prompt", "too late")])
        await fake_discord.wait_answered(late)
        await stopping
        assert inter.sticker_messages()  # answered before the connection closed
        assert late.ephemeral_texts == [SHUTTING_DOWN]  # told, not left hanging
        assert not fake_discord.sessions  # and the gateway connection is gone
    finally:
        await svc.close()


def test_two_adapters_cannot_point_one_process_at_different_endpoints() -> None:
    first, second = object(), object()
    endpoints.install(first, "http://127.0.0.1:1/api/v10", "ws://127.0.0.1:1/gateway")
    try:
        endpoints.install(second, "http://127.0.0.1:1/api/v10", "ws://127.0.0.1:1/gateway")  # same: fine
        with pytest.raises(endpoints.EndpointConflict):
            endpoints.install(object(), None, None)
        endpoints.release(first)
        assert discord.http.Route.BASE == "http://127.0.0.1:1/api/v10"  # still in use by `second`
    finally:
        endpoints.release(first)
        endpoints.release(second)
    assert discord.http.Route.BASE == "https://discord.com/api/v10"
