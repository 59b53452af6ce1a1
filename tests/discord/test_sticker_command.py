"""/sticker: deferral, queue notice, WebP attachments with footer and buttons, errors."""

from __future__ import annotations

import asyncio
import re

from adapters.discord import DiscordAdapter
from bot.messages import BUTTON_MORE, BUTTON_REROLL, OPTION_EXAMPLES
from tests.discord.conftest import option
from tests.fakes.discord_server import FakeDiscord, FakeGuild
from tests.fakes.fake_engine import FakeEngine

FOOTER = re.compile(r"^-# otter · seed \d+$")


async def test_sticker_defers_then_posts_webp_with_footer_and_buttons(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild, fake_engine: FakeEngine
) -> None:
    user = guild.members[0]
    inter = await fake_discord.slash(guild, user, "sticker", [option("prompt", "eating ramen")])
    await fake_discord.wait_answered(inter)

    assert inter.callback_type == 5  # deferred "thinking…"
    [message] = inter.sticker_messages()
    assert message is inter.original
    assert len(message.uploads) == 1 and message.uploads[0].filename.endswith(".webp")
    assert FOOTER.match(message.content), message.content
    ids = message.custom_ids()
    assert [i.split(":")[1] for i in ids] == ["reroll", "more", "add", "anim"]
    assert "eating ramen" in fake_engine.ran[0].prompt


async def test_count_four_gives_four_stickers_and_an_add_button_each(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    inter = await fake_discord.slash(
        guild,
        guild.members[0],
        "sticker",
        [option("prompt", "waving"), option("style", "rabbit"), option("count", 4, kind=4)],
    )
    await fake_discord.wait_answered(inter)
    [message] = inter.sticker_messages()
    assert len(message.uploads) == 4
    assert message.content.startswith("-# rabbit · seeds ")
    adds = [i for i in message.custom_ids() if i.startswith("sb:add:")]
    assert [a.rsplit(":", 1)[1] for a in adds] == ["0", "1", "2", "3"]


async def test_waiting_request_shows_its_place_in_line(
    start_bot, fake_discord: FakeDiscord, guild: FakeGuild, tmp_path
) -> None:
    from tests.fakes.service_factory import make_service

    slow = FakeEngine(delay_s=0.4, max_batch=1)
    svc = await make_service(tmp_path / "slow", slow)
    try:
        await start_bot(svc)
        first = await fake_discord.slash(guild, guild.members[0], "sticker", [option("prompt", "one")])
        second = await fake_discord.slash(guild, guild.members[1], "sticker", [option("prompt", "two")])
        await asyncio.gather(fake_discord.wait_answered(first), fake_discord.wait_answered(second))
        assert second.original is not None
        assert any(h.startswith("⏳ #") and h.endswith(" in line") for h in second.original.history)
        assert second.sticker_messages()
    finally:
        await svc.close()


async def test_empty_prompt_gets_a_private_error(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    inter = await fake_discord.slash(guild, guild.members[0], "sticker", [option("prompt", "   ")])
    await fake_discord.wait_answered(inter)
    assert inter.ephemeral_texts and "draw" in inter.ephemeral_texts[0]
    assert inter.original is not None and inter.original.deleted  # the public "thinking…" is gone
    assert not inter.sticker_messages()


async def test_unknown_style_gets_a_private_error(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    inter = await fake_discord.slash(
        guild, guild.members[0], "sticker", [option("prompt", "hi"), option("style", "../../etc")]
    )
    await fake_discord.wait_answered(inter)
    assert "style" in inter.ephemeral_texts[0].lower()


async def test_style_autocomplete_lists_matching_styles(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    inter = await fake_discord.slash(
        guild,
        guild.members[0],
        "sticker",
        [option("prompt", "hi"), option("style", "rab", focused=True)],
        autocomplete=True,
    )
    await fake_discord.wait_for(lambda: inter.acknowledged, what="autocomplete")
    assert [c["value"] for c in inter.autocomplete_choices()] == ["rabbit"]


async def test_sticker_works_in_direct_messages(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    inter = await fake_discord.slash(None, guild.members[0], "sticker", [option("prompt", "hello")])
    await fake_discord.wait_answered(inter)
    assert inter.sticker_messages()


async def test_user_text_echoed_back_never_pings(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    inter = await fake_discord.slash(
        guild, guild.members[0], "sticker", [option("prompt", "hi"), option("style", "@everyone")]
    )
    await fake_discord.wait_answered(inter)
    assert "@everyone" in inter.ephemeral_texts[0]  # echoed, and the fake checked allowed_mentions


async def test_seed_option_repeats_a_result(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild, fake_engine: FakeEngine
) -> None:
    inter = await fake_discord.slash(
        guild, guild.members[0], "sticker", [option("prompt", "waving"), option("seed", 1234, kind=4)]
    )
    await fake_discord.wait_answered(inter)
    assert inter.sticker_messages()[0].content == "-# otter · seed 1234"
    assert fake_engine.ran[-1].seed == 1234


async def test_help_names_the_same_options_and_buttons_as_the_other_platforms(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild
) -> None:
    inter = await fake_discord.slash(guild, guild.members[0], "help")
    await fake_discord.wait_answered(inter)
    [text] = inter.ephemeral_texts
    for fact in ("/sticker", "/style", "/reactions", *OPTION_EXAMPLES, BUTTON_REROLL, BUTTON_MORE):
        assert fact in text
