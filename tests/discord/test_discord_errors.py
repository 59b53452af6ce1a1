"""Discord-side failures: 429 + Retry-After, 5xx, 403, deleted messages or channels, expired interactions."""

from __future__ import annotations

import asyncio

from adapters.discord import DiscordAdapter
from tests.discord.conftest import option
from tests.fakes.discord_server import ATTACH_FILES, FakeDiscord, FakeGuild
from tests.fakes.fake_engine import FakeEngine

ORIGINAL = r"/webhooks/\d+/[^/]+/messages/@original$"


async def test_429_on_the_reply_is_waited_out_and_retried(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    fake_discord.fail("PATCH", ORIGINAL, 429, retry_after=0.25)
    inter = await fake_discord.slash(guild, guild.members[0], "sticker", [option("prompt", "hi")])
    await fake_discord.wait_answered(inter)
    limited, retried = fake_discord.calls_to("PATCH", ORIGINAL)
    assert limited.status == 429 and retried.status == 200
    assert retried.at - limited.at >= 0.25  # the library honoured Retry-After before retrying
    assert inter.sticker_messages()


async def test_429_on_a_bot_route_is_waited_out(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    fake_discord.fail("POST", r"/channels/\d+/messages$", 429, retry_after=0.2)
    message = fake_discord.add_channel_message(guild, guild.members[0])
    await fake_discord.react(guild, message, guild.members[1], "😂")
    await fake_discord.wait_for(lambda: fake_discord.channel_messages(guild.channel_id))
    first, second = fake_discord.calls_to("POST", r"/channels/\d+/messages$")
    assert (first.status, second.status) == (429, 200) and second.at - first.at >= 0.2


async def test_a_5xx_is_retried_by_the_library(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    fake_discord.fail("PATCH", ORIGINAL, 502, message="Bad Gateway")
    inter = await fake_discord.slash(guild, guild.members[0], "sticker", [option("prompt", "hi")])
    await fake_discord.wait_answered(inter)
    assert [c.status for c in fake_discord.calls_to("PATCH", ORIGINAL)] == [502, 200]


async def test_deleted_reply_falls_back_to_a_follow_up(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    fake_discord.fail("PATCH", ORIGINAL, 404, code=10008, message="Unknown Message")
    inter = await fake_discord.slash(guild, guild.members[0], "sticker", [option("prompt", "hi")])
    await fake_discord.wait_answered(inter)
    [message] = inter.sticker_messages()
    assert len(message.uploads) == 1


async def test_expired_interaction_does_not_crash_the_bot(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild, fake_engine: FakeEngine
) -> None:
    fake_discord.fail(
        "POST", r"/interactions/\d+/[^/]+/callback$", 404, code=10062, message="Unknown interaction"
    )
    lost = await fake_discord.slash(guild, guild.members[0], "sticker", [option("prompt", "hi")])
    await fake_discord.wait_for(lambda: fake_discord.calls_to("POST", "/callback$"), what="the defer")
    await asyncio.sleep(0.2)
    assert not lost.answered  # nobody to answer: dropped quietly, no generation queued for it
    fresh = await fake_discord.slash(guild, guild.members[0], "sticker", [option("prompt", "again")])
    await fake_discord.wait_answered(fresh)
    assert [job.prompt for job in fake_engine.ran if "hi" in job.prompt.split(",")[0]] == []


async def test_missing_permissions_for_a_reaction_reply_are_survived(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    guild.bot_permissions &= ~ATTACH_FILES  # the fake answers 403 / 50013
    message = fake_discord.add_channel_message(guild, guild.members[0])
    await fake_discord.react(guild, message, guild.members[1], "😂")
    await fake_discord.wait_for(lambda: fake_discord.calls_to("POST", r"/channels/\d+/messages$"))
    assert fake_discord.calls_to("POST", r"/channels/\d+/messages$")[0].status == 403
    guild.bot_permissions |= ATTACH_FILES
    await fake_discord.react(guild, message, guild.members[1], "😍")
    await fake_discord.wait_for(lambda: fake_discord.channel_messages(guild.channel_id))


async def test_deleted_channel_for_a_reaction_reply_is_survived(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    fake_discord.fail("POST", r"/channels/\d+/messages$", 404, code=10003, message="Unknown Channel")
    message = fake_discord.add_channel_message(guild, guild.members[0])
    await fake_discord.react(guild, message, guild.members[1], "😂")
    await fake_discord.wait_for(lambda: fake_discord.calls_to("POST", r"/channels/\d+/messages$"))
    inter = await fake_discord.slash(guild, guild.members[0], "sticker", [option("prompt", "still alive")])
    await fake_discord.wait_answered(inter)


async def test_server_error_on_sticker_upload_is_explained(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    from tests.discord.test_buttons import EXPRESSION_ADMIN, button, make_sticker

    message = await make_sticker(fake_discord, guild)
    fake_discord.fail("POST", r"/guilds/\d+/stickers$", 503, message="Service Unavailable")
    inter = await fake_discord.click(
        message, button(message, "add"), guild.members[0], permissions=EXPRESSION_ADMIN
    )
    await fake_discord.wait_answered(inter)
    assert inter.original is not None and "Discord is having trouble" in inter.original.content
