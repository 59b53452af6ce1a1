"""🎬 Animate under Discord stickers: that exact sticker comes back as a GIF attachment the fake accepts."""

from __future__ import annotations

import io

from PIL import Image

from adapters.discord import DiscordAdapter
from tests.discord.test_buttons import button, click, make_sticker
from tests.fakes.discord_server import FakeDiscord, FakeGuild
from tests.fakes.fake_engine import FakeEngine


async def test_animate_button_sends_a_gif_of_that_sticker(
    bot: DiscordAdapter, fake_discord: FakeDiscord, guild: FakeGuild, fake_engine: FakeEngine
) -> None:
    message = await make_sticker(fake_discord, guild, "happy otter", count=2)
    animate = button(message, "anim", 1)
    assert animate.endswith(":1")
    inter = await click(fake_discord, message, animate)
    [animated] = inter.sticker_messages()
    (upload,) = animated.uploads
    assert upload.filename.endswith(".gif")
    with Image.open(io.BytesIO(upload.data)) as gif:
        assert gif.format == "GIF" and gif.n_frames > 1
    assert len(fake_engine.ran) == 1  # nothing new was drawn
    assert fake_discord.violations == []
