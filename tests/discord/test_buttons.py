"""The buttons under a result: 🔄 Reroll, 4 more, 📌 Add to server stickers — also after a restart."""

from __future__ import annotations

from pathlib import Path

from adapters.discord import DiscordAdapter
from adapters.discord.buttons import NEEDS_MANAGE_EXPRESSIONS, NO_SERVER
from bot.service import StickerService
from tests.discord.conftest import StartBot, option
from tests.fakes.discord_server import (
    MANAGE_GUILD_EXPRESSIONS,
    MEMBER_PERMISSIONS,
    FakeDiscord,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
)
from tests.fakes.fake_engine import FakeEngine
from tests.fakes.service_factory import make_service

EXPRESSION_ADMIN = MEMBER_PERMISSIONS | MANAGE_GUILD_EXPRESSIONS


async def make_sticker(
    fake: FakeDiscord, guild: FakeGuild, prompt: str = "eating ramen", count: int = 1
) -> FakeMessage:
    options = [option("prompt", prompt)]
    if count != 1:
        options.append(option("count", count, kind=4))
    inter = await fake.slash(guild, guild.members[0], "sticker", options)
    await fake.wait_answered(inter)
    [message] = inter.sticker_messages()
    return message


def button(message: FakeMessage, action: str, index: int = 0) -> str:
    ids = [i for i in message.custom_ids() if i.startswith(f"sb:{action}:")]
    return ids[index]


async def click(fake: FakeDiscord, message: FakeMessage, custom_id: str, **kwargs: int) -> FakeInteraction:
    """A member other than the requester clicks (buttons are for everyone in the channel)."""
    assert message.guild_id is not None
    clicker = fake.guilds[message.guild_id].members[1]
    inter = await fake.click(message, custom_id, clicker, **kwargs)
    return await fake.wait_answered(inter)


async def test_reroll_makes_the_same_prompt_with_a_new_seed(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild, fake_engine: FakeEngine
) -> None:
    message = await make_sticker(fake_discord, guild)
    inter = await click(fake_discord, message, button(message, "reroll"))
    assert inter.callback_type == 5
    [rerolled] = inter.sticker_messages()
    assert len(rerolled.uploads) == 1 and rerolled.id != message.id
    first, second = fake_engine.ran
    assert first.prompt == second.prompt and first.seed != second.seed


async def test_four_more_gives_four_variations(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    message = await make_sticker(fake_discord, guild)
    inter = await click(fake_discord, message, button(message, "more"))
    [more] = inter.sticker_messages()
    assert len(more.uploads) == 4
    assert len([i for i in more.custom_ids() if i.startswith("sb:add:")]) == 4


async def test_add_to_server_uploads_a_320_png(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    message = await make_sticker(fake_discord, guild, "happy otter", count=2)
    inter = await click(fake_discord, message, button(message, "add", 1), permissions=EXPRESSION_ADMIN)
    assert inter.callback_type == 5 and inter.original is not None and inter.original.flags & 64  # private
    assert inter.original.content.startswith("📌 Added **happy otter**")
    [sticker] = guild.stickers
    assert sticker["name"] == "happy otter" and len(sticker["tags"]) >= 2
    # The fake validated the upload (PNG, 320x320, <= 512 KiB); check the call happened once.
    assert len(fake_discord.calls_to("POST", r"/guilds/\d+/stickers$")) == 1


async def test_add_to_server_needs_manage_expressions(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    message = await make_sticker(fake_discord, guild)
    inter = await click(fake_discord, message, button(message, "add"), permissions=MEMBER_PERMISSIONS)
    assert inter.callback_type == 4 and inter.ephemeral_texts == [NEEDS_MANAGE_EXPRESSIONS]
    assert guild.stickers == [] and not fake_discord.calls_to("POST", r"/stickers$")


async def test_add_to_server_refused_when_the_bot_lacks_the_permission(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    guild.bot_permissions &= ~MANAGE_GUILD_EXPRESSIONS
    message = await make_sticker(fake_discord, guild)
    inter = await click(fake_discord, message, button(message, "add"), permissions=EXPRESSION_ADMIN)
    assert "I need the Manage Expressions permission" in inter.ephemeral_texts[0]


async def test_full_sticker_slots_get_a_clear_message(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    guild.sticker_slots = 0
    message = await make_sticker(fake_discord, guild)
    inter = await click(fake_discord, message, button(message, "add"), permissions=EXPRESSION_ADMIN)
    assert inter.original is not None
    assert "sticker slots are full" in inter.original.content


async def test_buttons_keep_working_after_a_restart(
    start_bot: StartBot, fake_discord: FakeDiscord, guild: FakeGuild, tmp_path: Path
) -> None:
    first_service = await make_service(tmp_path / "db", FakeEngine())
    adapter = await start_bot(first_service)
    message = await make_sticker(fake_discord, guild, "sleepy otter")
    await adapter.stop()
    await first_service.close()

    # A new process: a fresh service on the same database, a new client, no in-memory views.
    second_service: StickerService = await make_service(tmp_path / "db", FakeEngine())
    try:
        await start_bot(second_service)
        assert len(fake_discord.identifies) == 2
        inter = await click(fake_discord, message, button(message, "reroll"))
        assert inter.sticker_messages()
        inter = await click(fake_discord, message, button(message, "add"), permissions=EXPRESSION_ADMIN)
        assert len(guild.stickers) == 1
    finally:
        await second_service.close()


async def test_unknown_record_gets_a_private_error(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    message = fake_discord.add_channel_message(guild, fake_discord.bot)
    message.components = [
        {
            "type": 1,
            "components": [{"type": 2, "style": 2, "label": "Reroll", "custom_id": "sb:reroll:AAAAAAAA"}],
        }
    ]
    inter = await click(fake_discord, message, "sb:reroll:AAAAAAAA")
    assert inter.ephemeral_texts and "make a new one" in inter.ephemeral_texts[0].lower()


async def test_add_to_server_outside_a_server_is_refused(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    user = guild.members[0]
    inter = await fake_discord.slash(None, user, "sticker", [option("prompt", "hello")])
    await fake_discord.wait_answered(inter)
    [message] = inter.sticker_messages()
    click_ = await fake_discord.click(message, button(message, "add"), user, permissions=EXPRESSION_ADMIN)
    await fake_discord.wait_answered(click_)
    assert click_.ephemeral_texts == [NO_SERVER]
