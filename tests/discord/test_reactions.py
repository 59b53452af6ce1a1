"""Reaction stickers: a known emoji → a sticker reply; bots, unknown emoji and muted channels are ignored."""

from __future__ import annotations

import asyncio

from adapters.discord import DiscordAdapter
from bot.messages import FORBIDDEN
from tests.discord.conftest import subcommand
from tests.fakes.discord_server import (
    MANAGE_CHANNELS,
    MEMBER_PERMISSIONS,
    FakeDiscord,
    FakeGuild,
    FakeMessage,
    FakeUser,
    snowflake,
)
from tests.fakes.fake_engine import FakeEngine


async def sticker_reply(fake_discord: FakeDiscord, channel_id: int) -> FakeMessage:
    """Wait for the bot's one message in `channel_id` and check it is a reaction sticker."""
    await fake_discord.wait_for(lambda: fake_discord.channel_messages(channel_id), what="a reaction sticker")
    [reply] = fake_discord.channel_messages(channel_id)
    assert len(reply.uploads) == 1 and reply.uploads[0].filename.endswith(".webp")
    assert reply.content.startswith("-# otter · seed ")
    return reply


async def settle() -> None:
    """Give the bot time to (not) act: an ignored reaction has no answer to wait for."""
    await asyncio.sleep(0.3)


async def test_reaction_gets_a_sticker_reply(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild, fake_engine: FakeEngine
) -> None:
    author, reactor = guild.members[0], guild.members[1]
    message = fake_discord.add_channel_message(guild, author, "that was hilarious")
    await fake_discord.react(guild, message, reactor, "😂")
    await fake_discord.wait_for(
        lambda: fake_discord.channel_messages(guild.channel_id), what="a reaction sticker"
    )
    [reply] = fake_discord.channel_messages(guild.channel_id)
    assert reply.reference is not None and reply.reference["message_id"] == str(message.id)
    assert len(reply.uploads) == 1 and reply.content.startswith("-# otter · seed ")
    assert "laughing" in fake_engine.ran[0].prompt
    assert any(i.startswith("sb:reroll:") for i in reply.custom_ids())


async def test_same_emoji_on_the_same_message_is_answered_once(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild, fake_engine: FakeEngine
) -> None:
    message = fake_discord.add_channel_message(guild, guild.members[0])
    await fake_discord.react(guild, message, guild.members[1], "😂")
    await fake_discord.react(guild, message, guild.members[2], "😂")
    reply = await sticker_reply(fake_discord, guild.channel_id)
    await settle()
    assert len(fake_discord.channel_messages(guild.channel_id)) == 1
    assert reply.reference is not None and reply.reference["message_id"] == str(message.id)
    assert len(fake_engine.ran) == 1 and "laughing" in fake_engine.ran[0].prompt


async def test_bots_own_and_unknown_reactions_are_ignored(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild, fake_engine: FakeEngine
) -> None:
    other_bot = FakeUser(snowflake(), "OtherBot", bot=True)
    guild.members.append(other_bot)
    message = fake_discord.add_channel_message(guild, guild.members[0])
    await fake_discord.react(guild, message, other_bot, "😂")
    await fake_discord.react(guild, message, fake_discord.bot, "😍")
    await fake_discord.react(guild, message, guild.members[1], "🦆")  # not in the expression table
    await settle()
    assert fake_discord.channel_messages(guild.channel_id) == []
    assert fake_engine.ran == []


async def test_admin_switches_reactions_off_and_on_per_channel(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild, fake_engine: FakeEngine
) -> None:
    admin, member = guild.members[0], guild.members[1]
    off = await fake_discord.slash(
        guild, admin, "reactions", [subcommand("off")], permissions=MEMBER_PERMISSIONS | MANAGE_CHANNELS
    )
    await fake_discord.wait_answered(off)
    assert off.callback_type == 4 and "off" in off.original.content  # type: ignore[union-attr]

    quiet = fake_discord.add_channel_message(guild, admin)
    await fake_discord.react(guild, quiet, member, "😂")
    other_channel = fake_discord.add_channel_message(guild, admin, channel_id=guild.channel_ids[1])
    await fake_discord.react(guild, other_channel, member, "😂")
    next_door = await sticker_reply(fake_discord, guild.channel_ids[1])
    assert next_door.reference is not None and next_door.reference["message_id"] == str(other_channel.id)
    await settle()
    assert fake_discord.channel_messages(guild.channel_id) == []  # off here, still on next door

    on = await fake_discord.slash(
        guild, admin, "reactions", [subcommand("on")], permissions=MEMBER_PERMISSIONS | MANAGE_CHANNELS
    )
    await fake_discord.wait_answered(on)
    await fake_discord.react(guild, quiet, member, "😍")
    back_on = await sticker_reply(fake_discord, guild.channel_id)
    assert back_on.reference is not None and back_on.reference["message_id"] == str(quiet.id)
    assert "heart eyes" in fake_engine.ran[-1].prompt and len(fake_engine.ran) == 2


async def test_members_without_channel_rights_cannot_switch_reactions(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    inter = await fake_discord.slash(guild, guild.members[1], "reactions", [subcommand("off")])
    await fake_discord.wait_answered(inter)
    assert inter.ephemeral_texts == [FORBIDDEN]
    message = fake_discord.add_channel_message(guild, guild.members[0])
    await fake_discord.react(guild, message, guild.members[1], "😂")
    reply = await sticker_reply(fake_discord, guild.channel_id)  # reactions stayed on
    assert reply.reference is not None and reply.reference["message_id"] == str(message.id)


async def test_reaction_on_a_deleted_message_still_posts_without_failing(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild, fake_engine: FakeEngine
) -> None:
    message = fake_discord.add_channel_message(guild, guild.members[0])
    message.deleted = True
    await fake_discord.react(guild, message, guild.members[1], "😢")
    reply = await sticker_reply(fake_discord, guild.channel_id)
    # The reply asks Discord not to fail when the original is gone: that is why it still posts.
    assert reply.reference is not None and reply.reference["fail_if_not_exists"] is False
    assert "sad with a tear" in fake_engine.ran[0].prompt


async def test_reaction_sticker_can_be_added_to_the_server(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    message = fake_discord.add_channel_message(guild, guild.members[0])
    await fake_discord.react(guild, message, guild.members[1], "😂")
    await fake_discord.wait_for(lambda: fake_discord.channel_messages(guild.channel_id))
    [reply] = fake_discord.channel_messages(guild.channel_id)
    add = next(i for i in reply.custom_ids() if i.startswith("sb:add:"))
    inter = await fake_discord.click(reply, add, guild.members[0], permissions=MEMBER_PERMISSIONS | (1 << 30))
    await fake_discord.wait_answered(inter)
    [sticker] = guild.stickers
    assert sticker["tags"] == "joy"
