"""/style list | set | preview."""

from __future__ import annotations

from adapters.discord import DiscordAdapter
from bot.messages import FORBIDDEN_STYLE
from tests.discord.conftest import option, subcommand
from tests.fakes.discord_server import MANAGE_GUILD, MEMBER_PERMISSIONS, FakeDiscord, FakeGuild
from tests.fakes.fake_engine import FakeEngine


async def test_style_list_shows_styles_privately(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    inter = await fake_discord.slash(guild, guild.members[0], "style", [subcommand("list")])
    await fake_discord.wait_answered(inter)
    [text] = inter.ephemeral_texts
    assert "**otter**" in text and "**rabbit**" in text and "this server's style" in text


async def test_style_set_needs_manage_server(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild, fake_engine: FakeEngine
) -> None:
    refused = await fake_discord.slash(
        guild, guild.members[1], "style", [subcommand("set", option("name", "rabbit"))]
    )
    await fake_discord.wait_answered(refused)
    assert refused.ephemeral_texts == [FORBIDDEN_STYLE]

    admin = MEMBER_PERMISSIONS | MANAGE_GUILD
    done = await fake_discord.slash(
        guild, guild.members[0], "style", [subcommand("set", option("name", "rabbit"))], permissions=admin
    )
    await fake_discord.wait_answered(done)
    assert done.original is not None and "rabbit" in done.original.content and not done.ephemeral_texts

    sticker = await fake_discord.slash(guild, guild.members[1], "sticker", [option("prompt", "hello")])
    await fake_discord.wait_answered(sticker)
    assert sticker.sticker_messages()[0].content.startswith("-# rabbit · ")
    assert fake_engine.ran[-1].style == "rabbit"


async def test_style_set_unknown_style_is_a_private_error(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    inter = await fake_discord.slash(
        guild,
        guild.members[0],
        "style",
        [subcommand("set", option("name", "nope"))],
        permissions=MEMBER_PERMISSIONS | MANAGE_GUILD,
    )
    await fake_discord.wait_answered(inter)
    assert "don't know the style" in inter.ephemeral_texts[0]


async def test_style_preview_posts_a_sheet_of_samples(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild, fake_engine: FakeEngine
) -> None:
    inter = await fake_discord.slash(
        guild, guild.members[0], "style", [subcommand("preview", option("name", "rabbit"))]
    )
    await fake_discord.wait_answered(inter)
    [sheet] = inter.sticker_messages()
    assert len(sheet.uploads) == 4 and sheet.content.startswith("-# rabbit · preview")
    assert {job.style for job in fake_engine.ran} == {"rabbit"}
    assert len({job.prompt for job in fake_engine.ran}) == 4  # four different expressions


async def test_style_preview_of_unknown_style_is_a_private_error(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    inter = await fake_discord.slash(
        guild, guild.members[0], "style", [subcommand("preview", option("name", "x"))]
    )
    await fake_discord.wait_answered(inter)
    assert inter.ephemeral_texts and "don't know the style" in inter.ephemeral_texts[0]


async def test_style_preview_works_where_reaction_stickers_are_off(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    admin = MEMBER_PERMISSIONS | MANAGE_GUILD
    off = await fake_discord.slash(
        guild, guild.members[0], "reactions", [subcommand("off")], permissions=admin
    )
    await fake_discord.wait_answered(off)
    inter = await fake_discord.slash(
        guild, guild.members[0], "style", [subcommand("preview", option("name", "rabbit"))]
    )
    await fake_discord.wait_answered(inter)
    [sheet] = inter.sticker_messages()
    assert len(sheet.uploads) == 4 and not inter.ephemeral_texts
