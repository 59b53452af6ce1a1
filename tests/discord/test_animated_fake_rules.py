"""The fake Discord REST checks animated uploads as Discord does: GIF attachments, and server stickers
as PNG/APNG/GIF at 320x320, at most 512 KiB and 5 s (WebP refused)."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from generator.animation.encode import discord_server_sticker_animated, encode_apng, encode_clip
from generator.animation.motion import Clip, animate
from tests.fakes.discord_server import FakeDiscord, Upload


@pytest.fixture(scope="module")
def clip() -> Clip:
    sticker = Image.new("RGBA", (512, 512), (0, 0, 0, 0))
    ImageDraw.Draw(sticker).ellipse(
        (60, 60, 452, 452), fill=(230, 120, 40, 255), outline=(255, 255, 255, 255), width=8
    )
    return animate(sticker, "pulse", fps=12)


@pytest.mark.parametrize("fmt", ["apng", "gif"])
def test_animated_server_stickers_pass(clip: Clip, fmt: str) -> None:
    data = discord_server_sticker_animated(clip, fmt)
    assert FakeDiscord._check_server_sticker(Upload(f"s.{fmt}", data, None)) == []


def test_long_or_webp_server_stickers_are_refused(clip: Clip) -> None:
    long = Clip(frames=clip.frames * 6, fps=12)  # 6 s
    data = encode_apng(Clip(frames=tuple(f.resize((320, 320)) for f in long.frames), fps=12), palette=True)
    assert "at most 5 s" in FakeDiscord._check_server_sticker(Upload("s.png", data, None))[0]
    webp = encode_clip(Clip(frames=tuple(f.resize((320, 320)) for f in clip.frames), fps=12), "webp")
    assert "WebP is not accepted" in FakeDiscord._check_server_sticker(Upload("s.webp", webp, None))[0]


def test_gif_attachments_pass(clip: Clip) -> None:
    assert FakeDiscord._check_sticker_attachment(Upload("a.gif", encode_clip(clip, "gif"), None)) == []
