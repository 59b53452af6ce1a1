"""`/teach name:dog` without photos, then the photos in a later message (mentioning the bot, or a DM),
through the real discord.py client against the fake Discord, which delivers content and attachments
only the way Discord does for a bot without the message-content intent."""

from __future__ import annotations

import pytest

from adapters.discord import DiscordAdapter
from bot.service import StickerService
from tests.discord.conftest import StartBot, option
from tests.discord.teach_helpers import replies, teach_by_message
from tests.fakes.discord_server import (
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGES,
    INTENT_MESSAGE_CONTENT,
    FakeDiscord,
    FakeGuild,
)
from tests.teach.conftest import StepTrainer
from tests.teach.helpers import dog_photo

FILES = [(f"dog_{i}.jpg", dog_photo(i)) for i in range(4)]


async def test_photos_in_a_message_mentioning_the_bot_teach_with_progress_and_preview(
    fake_discord: FakeDiscord, guild: FakeGuild, teach_bot: DiscordAdapter, trainer: StepTrainer
) -> None:
    [identify] = fake_discord.identifies
    assert identify["intents"] & (INTENT_GUILD_MESSAGES | INTENT_DIRECT_MESSAGES)
    assert not identify["intents"] & INTENT_MESSAGE_CONTENT  # not privileged: never asked for

    asked, sent = await teach_by_message(fake_discord, guild, FILES)
    assert asked.original is not None and asked.original.flags & 64  # private
    assert "within 5 minutes" in asked.texts()[-1]
    await fake_discord.wait_for(lambda: trainer.calls != [], what="training")
    assert len(fake_discord.cdn_downloads) == 4
    [status] = replies(fake_discord, sent)
    await fake_discord.wait_for(
        lambda: any("Learning your dog: ▓" in t for t in status.history), what="the progress bar"
    )
    assert any(t.startswith("Got 4 photos") for t in status.history) and status.channel_id == guild.channel_id

    trainer.release.set()
    await fake_discord.wait_for(lambda: any(m.uploads for m in replies(fake_discord, sent)), what="preview")
    assert "I know your “dog” now" in status.content
    assert trainer.calls[0].token == "sks dog"


async def test_photos_by_dm_teach_for_the_server_of_the_command(
    fake_discord: FakeDiscord,
    guild: FakeGuild,
    teach_bot: DiscordAdapter,
    trainer: StepTrainer,
    service: StickerService,
) -> None:
    _, sent = await teach_by_message(fake_discord, guild, FILES, direct=True)
    await fake_discord.wait_for(lambda: trainer.calls != [], what="training")
    [status] = replies(fake_discord, sent)
    assert status.guild_id is None and status.channel_id in fake_discord.dm_channels
    assert service.teaching is not None
    [job] = await service.teaching.store.user_jobs("discord", str(guild.members[0].id))
    assert job.server == str(guild.id) and job.name == "dog"


async def test_other_messages_are_ignored_or_answered_clearly(
    fake_discord: FakeDiscord, guild: FakeGuild, teach_bot: DiscordAdapter, trainer: StepTrainer
) -> None:
    owner, other = guild.members[0], guild.members[1]
    asked = await fake_discord.slash(guild, owner, "teach", [option("name", "dog")])
    await fake_discord.wait_answered(asked)

    # Without a mention the bot gets no content and no attachments (no privileged intent): ignored.
    unread, delivered = await fake_discord.user_message(guild, owner, "pics", FILES)
    # Someone else's photos, mentioning the bot: they have no /teach waiting.
    others, _ = await fake_discord.user_message(guild, other, "mine", FILES, mention_bot=True)
    # The teacher mentions the bot without photos.
    bare, _ = await fake_discord.user_message(guild, owner, "hello", mention_bot=True)
    # The teacher chats mentioning the bot in the other channel, without photos: not for /teach.
    await fake_discord.user_message(guild, owner, "hi", mention_bot=True, channel_id=guild.channel_ids[1])
    await fake_discord.wait_for(lambda: replies(fake_discord, others) and replies(fake_discord, bare))
    assert delivered and not replies(fake_discord, unread)
    assert "use /teach name:… first" in replies(fake_discord, others)[0].content
    assert "Attach the photos of your dog" in replies(fake_discord, bare)[0].content
    assert trainer.calls == [] and fake_discord.cdn_downloads == []

    # A new /teach replaces the waiting one; its photos teach the new name.
    again = await fake_discord.slash(guild, owner, "teach", [option("name", "cat")])
    await fake_discord.wait_answered(again)
    await fake_discord.user_message(guild, owner, "", FILES, mention_bot=True)
    await fake_discord.wait_for(lambda: trainer.calls != [], what="training")
    assert trainer.calls[0].token == "sks cat"
    assert len(fake_discord.cdn_downloads) == 4  # only the accepted message's photos were fetched


async def test_a_waiting_teach_expires(
    fake_discord: FakeDiscord,
    guild: FakeGuild,
    teach_bot: DiscordAdapter,
    trainer: StepTrainer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import adapters.discord.teach_inbox as inbox

    monkeypatch.setattr(inbox, "WINDOW_S", 0.0)
    _, sent = await teach_by_message(fake_discord, guild, FILES)
    await fake_discord.wait_for(lambda: replies(fake_discord, sent), what="an answer")
    assert "That /teach has expired" in replies(fake_discord, sent)[0].content
    assert trainer.calls == []


async def test_bad_photos_in_the_message_get_the_reason(
    fake_discord: FakeDiscord, guild: FakeGuild, teach_bot: DiscordAdapter, trainer: StepTrainer
) -> None:
    files = [*FILES[:3], ("notes.jpg", b"just some text\n" * 50)]
    _, sent = await teach_by_message(fake_discord, guild, files)
    await fake_discord.wait_for(
        lambda: any("Only 3" in m.content for m in replies(fake_discord, sent)), what="the refusal"
    )
    assert "notes.jpg (that file is not an image" in replies(fake_discord, sent)[0].content


async def test_refusals_come_before_asking_for_photos(
    fake_discord: FakeDiscord, guild: FakeGuild, teach_bot: DiscordAdapter, trainer: StepTrainer
) -> None:
    owner = guild.members[0]
    await teach_by_message(fake_discord, guild, FILES)
    await fake_discord.wait_for(lambda: trainer.calls != [], what="training")
    busy = await fake_discord.slash(guild, owner, "teach", [option("name", "cat")])
    await fake_discord.wait_answered(busy)
    assert "one at a time" in busy.texts()[-1] and busy.original is not None and busy.original.flags & 64


async def test_without_teaching_no_message_intents(
    fake_discord: FakeDiscord, guild: FakeGuild, start_bot: StartBot
) -> None:
    await start_bot()
    [identify] = fake_discord.identifies
    assert not identify["intents"] & (INTENT_GUILD_MESSAGES | INTENT_DIRECT_MESSAGES)
    _, delivered = await fake_discord.user_message(guild, guild.members[0], "x", FILES, mention_bot=True)
    assert not delivered  # Discord sends no MESSAGE_CREATE without the intent


async def test_the_fake_refuses_privileged_intents_not_granted(
    fake_discord: FakeDiscord, guild: FakeGuild, teach_bot: DiscordAdapter
) -> None:
    """The fake validates like Discord: a bot asking for message content without the grant is closed."""
    import aiohttp

    async with aiohttp.ClientSession() as http, http.ws_connect(fake_discord.gateway_url) as ws:
        await ws.receive_json()  # HELLO
        intents = INTENT_GUILD_MESSAGES | INTENT_MESSAGE_CONTENT
        await ws.send_json({"op": 2, "d": {"token": fake_discord.token, "intents": intents}})
        closed = await ws.receive()
        assert closed.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 4014


async def test_teach_in_a_dm_then_photos_in_the_dm(
    fake_discord: FakeDiscord, guild: FakeGuild, teach_bot: DiscordAdapter, trainer: StepTrainer
) -> None:
    user = guild.members[2]
    asked = await fake_discord.slash(None, user, "teach", [option("name", "dog")])
    await fake_discord.wait_answered(asked)
    assert "in your next message here, within 5 minutes" in asked.texts()[-1]
    sent, _ = await fake_discord.user_message(None, user, "", FILES)
    await fake_discord.wait_for(
        lambda: any("Got 4 photos" in t for m in replies(fake_discord, sent) for t in m.history),
        what="the answer in the DM",
    )
    await fake_discord.wait_for(lambda: trainer.calls != [], what="training")
