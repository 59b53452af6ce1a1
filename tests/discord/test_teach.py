"""/teach name:dog with attachment options through the real discord.py client against the fake Discord:
CDN downloads, progress by editing the reply, the preview, "my dog" in /sticker, /forget, bad input,
and /teach-settings with its permission check."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.discord import DiscordAdapter
from tests.discord.conftest import StartBot, option
from tests.discord.teach_helpers import replies, teach, teach_by_message
from tests.fakes.discord_server import MEMBER_PERMISSIONS, FakeDiscord, FakeGuild
from tests.fakes.fake_engine import FakeEngine
from tests.teach.conftest import StepTrainer
from tests.teach.helpers import dog_photo

MANAGE_GUILD = MEMBER_PERMISSIONS | 1 << 5


async def test_teach_with_attachments_progress_preview_use_and_forget(
    fake_discord: FakeDiscord,
    guild: FakeGuild,
    teach_bot: DiscordAdapter,
    trainer: StepTrainer,
    fake_engine: FakeEngine,
    tmp_path: Path,
) -> None:
    registered = fake_discord._find_command(guild, "teach")
    assert [o["type"] for o in registered["options"]][:3] == [3, 11, 11]  # name, then attachment options

    files = [(f"dog_{i}.jpg", dog_photo(i)) for i in range(4)]
    asked = await teach(fake_discord, guild, files)
    await fake_discord.wait_for(
        lambda: any("Learning your dog: ▓" in t for t in (asked.original.history if asked.original else [])),
        what="the progress bar",
    )
    assert len(fake_discord.cdn_downloads) == 4  # every photo fetched from the CDN URL Discord gave
    assert asked.callback_type == 5 and not asked.followups  # one reply, edited
    trainer.release.set()
    await fake_discord.wait_for(lambda: any(m.uploads for m in asked.followups), what="the preview")
    [preview] = [m for m in asked.followups if m.uploads]
    assert preview.uploads[0].data.startswith(b"\x89PNG")
    await fake_discord.wait_for(
        lambda: asked.original is not None and "I know your “dog” now" in asked.original.content, what="done"
    )

    drawn = await fake_discord.slash(guild, guild.members[0], "sticker", [option("prompt", "my dog waving")])
    await fake_discord.wait_answered(drawn)
    assert fake_engine.ran[-1].subject_lora is not None and "sks dog" in fake_engine.ran[-1].prompt

    forgot = await fake_discord.slash(guild, guild.members[0], "forget", [option("name", "dog")])
    await fake_discord.wait_answered(forgot)
    assert forgot.texts()[-1].startswith("Forgotten")
    assert not list((tmp_path / "teach").rglob("*.safetensors"))


async def test_bad_input_gets_one_private_answer(
    fake_discord: FakeDiscord, guild: FakeGuild, teach_bot: DiscordAdapter
) -> None:
    none = await teach(fake_discord, guild, [])  # asks for the photos in a message (test_teach_inbox.py)
    await fake_discord.wait_answered(none)
    assert "next message here, mentioning me, or in a DM" in none.texts()[-1]
    assert none.original is not None and none.original.flags & 64  # private

    fake_text = [(f"dog_{i}.jpg", dog_photo(i)) for i in range(3)] + [("notes.jpg", b"just some text\n" * 50)]
    text_file = await teach(fake_discord, guild, fake_text)
    await fake_discord.wait_answered(text_file)
    answer = text_file.texts()[-1]
    assert "notes.jpg" in answer and "not an image" in answer  # named, with the reason
    assert text_file.ephemeral_texts  # refusals are private


async def test_teach_settings_need_manage_server(
    fake_discord: FakeDiscord, guild: FakeGuild, teach_bot: DiscordAdapter
) -> None:
    member = guild.members[1]
    denied = await fake_discord.slash(guild, member, "teach-settings", [option("members", "off")])
    await fake_discord.wait_answered(denied)
    assert "Only the owners" in denied.texts()[-1]

    owner = guild.members[0]
    changed = await fake_discord.slash(
        guild, owner, "teach-settings", [option("members", "off")], permissions=MANAGE_GUILD
    )
    await fake_discord.wait_answered(changed)
    assert "may not teach" in changed.texts()[-1]

    refused = await teach(fake_discord, guild, [(f"dog_{i}.jpg", dog_photo(i)) for i in range(4)])
    await fake_discord.wait_answered(refused)
    assert "Only the owners can teach" in refused.texts()[-1]

    shared = await fake_discord.slash(
        guild, owner, "teach-settings", [option("sharing", "server")], permissions=MANAGE_GUILD
    )
    await fake_discord.wait_answered(shared)
    assert "may not teach" in shared.texts()[-1] and "shared with everyone" in shared.texts()[-1]


@pytest.mark.slow
@pytest.mark.parametrize("via", ["attachments", "message"])
async def test_teach_on_the_tiny_model_then_draw_my_dog(
    via: str,
    fake_discord: FakeDiscord,
    guild: FakeGuild,
    start_bot: StartBot,
    tmp_path: Path,
    tiny_model_dir: Path,
    tiny_lora_files: list[Path],
) -> None:
    """The real training subprocess and the real diffusers engine behind the real discord.py client."""
    from bot.service import with_storage_under
    from bot.teaching.wiring import attach_teaching
    from generator.engine import build_engine
    from tests.fakes.service_factory import make_service
    from tests.teach.test_worker import tiny_teach_config

    config = tiny_teach_config(tmp_path, tiny_model_dir, tiny_lora_files[1])
    (tmp_path / "real").mkdir()
    config = with_storage_under(config, tmp_path / "real")
    engine = build_engine(config.model, config.engine)
    service = await make_service(tmp_path / "real", engine=engine, config=config)
    try:
        assert await attach_teaching(service) is not None
        await start_bot(service)
        files = [(f"dog_{i}.jpg", dog_photo(i)) for i in range(4)]
        if via == "attachments":
            asked = await teach(fake_discord, guild, files)
            await fake_discord.wait_for(lambda: any(m.uploads for m in asked.followups), 300, "the preview")
            history = asked.original.history if asked.original else []
        else:  # `/teach name:dog`, then the photos in a message mentioning the bot
            _, sent = await teach_by_message(fake_discord, guild, files)
            answers = lambda: replies(fake_discord, sent)  # noqa: E731
            await fake_discord.wait_for(lambda: any(m.uploads for m in answers()), 300, "the preview")
            history = answers()[0].history
        assert any("Learning your dog: ▓" in t for t in history) and "I know your “dog” now" in history[-1]

        drawn = await fake_discord.slash(
            guild, guild.members[0], "sticker", [option("prompt", "my dog waving")]
        )
        await fake_discord.wait_answered(drawn, 120)
        assert drawn.sticker_messages()
        assert any(name.startswith("otter+") for name in engine._pipeline._subjects)  # type: ignore[union-attr]
    finally:
        await service.close()


async def test_after_the_token_expires_the_outcome_goes_to_the_channel(
    fake_discord: FakeDiscord,
    guild: FakeGuild,
    teach_bot: DiscordAdapter,
    trainer: StepTrainer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import adapters.discord.teach as discord_teach

    monkeypatch.setattr(discord_teach, "TOKEN_LIFETIME_S", 1.0)
    asked = await teach(fake_discord, guild, [(f"dog_{i}.jpg", dog_photo(i)) for i in range(4)])
    await fake_discord.wait_for(lambda: trainer.calls != [], what="training")
    await asyncio.sleep(1.2)  # the interaction token is now considered spent
    trainer.release.set()
    channel = guild.channel_id
    await fake_discord.wait_for(
        lambda: any(m.uploads for m in fake_discord.channel_messages(channel)),
        what="the preview there",
    )
    texts = [m.content for m in fake_discord.channel_messages(channel)]
    assert any("I know your “dog” now" in t and str(guild.members[0].id) in t for t in texts)
    assert not any("Learning your" in t for t in texts)  # progress is not posted to the channel
    assert not any(m.uploads for m in asked.followups)
