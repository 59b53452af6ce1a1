"""Animated results through the real service (FakeEngine, SQLite): asked in text, by field and by the
🎬 Animate button; cached, rerollable, rate-limited, and in each platform's format."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from bot.config import AppConfig, LimitsConfig
from bot.service import StickerService
from bot.types import ErrorKind, RequestKind, StickerFormat, StickerRequest
from generator.animation.encode import check_telegram_webm, decode_image_frames
from tests.fakes.fake_engine import FakeEngine
from tests.fakes.service_factory import make_service


@pytest.fixture
async def service(tmp_path: Path, fake_engine: FakeEngine) -> AsyncIterator[StickerService]:
    svc = await make_service(tmp_path, fake_engine)
    try:
        yield svc
    finally:
        await svc.close()


def req(text: str, platform: str = "telegram", **kw: object) -> StickerRequest:
    return StickerRequest(
        platform=platform, user_id="u1", conversation_id="c1", server_id="s1", text=text, **kw
    )


async def test_animated_in_text_gives_a_telegram_video_sticker(
    service: StickerService, fake_engine: FakeEngine
):
    reply = await service.handle(req("animated laughing otter seed:5"))
    assert reply.ok, reply.error
    assert reply.motion == "shake"  # 😂 laughing shakes
    (sticker,) = reply.stickers
    assert sticker.format == StickerFormat.WEBM and (sticker.width, sticker.height) == (512, 512)
    check_telegram_webm(sticker.data)
    assert fake_engine.ran[0].prompt.startswith("laughing")  # the option is not drawn


@pytest.mark.parametrize(
    ("platform", "formats", "expected"),
    [
        ("web", frozenset({StickerFormat.WEBP}), {StickerFormat.WEBP_ANIMATED}),
        ("discord", frozenset({StickerFormat.WEBP}), {StickerFormat.GIF}),
        (
            "discord",
            frozenset({StickerFormat.WEBP, StickerFormat.DISCORD_PNG}),
            {StickerFormat.GIF, StickerFormat.DISCORD_APNG},
        ),
        ("cli", frozenset({StickerFormat.GIF}), {StickerFormat.GIF}),
    ],
)
async def test_each_platform_gets_its_animated_format(
    service: StickerService, platform: str, formats: frozenset[StickerFormat], expected: set[StickerFormat]
):
    reply = await service.handle(req("waving otter anim:wave", platform, formats=formats))
    assert reply.ok, reply.error
    assert {s.format for s in reply.stickers} == expected
    for sticker in reply.stickers:
        fmt = {"gif": "gif", "webp_animated": "webp", "discord_apng": "apng"}[sticker.format.value]
        frames, _ = decode_image_frames(sticker.data, fmt)
        assert len(frames) > 1 and frames[0].shape[:2] == (sticker.height, sticker.width)


async def test_field_on_the_command_and_static_reactions(service: StickerService):
    reply = await service.handle(req("sleepy otter", animate="float"))
    assert reply.motion == "float" and reply.stickers[0].format == StickerFormat.WEBM
    reaction = await service.handle(
        StickerRequest(platform="telegram", user_id="u1", conversation_id="c1", server_id="s1",
                       kind=RequestKind.REACTION, emoji="😂")
    )  # fmt: skip
    assert reaction.ok and reaction.motion is None and reaction.stickers[0].format == StickerFormat.WEBP


async def test_animate_button_animates_that_exact_sticker(service: StickerService, fake_engine: FakeEngine):
    static = await service.handle(req("eating otter n:2 seed:40", "web"))
    assert static.ok and len(static.stickers) == 2
    second = static.stickers[1]
    reply = await service.handle(
        req("", "web", kind=RequestKind.ANIMATE, parent_id=static.record_id, seed=second.seed)
    )
    assert reply.ok, reply.error
    assert len(fake_engine.ran) == 1  # nothing new was drawn
    assert reply.seed == 41 and reply.motion == "squash"  # 😋 eating: the sticker's emoji chooses
    (anim,) = reply.stickers
    frames, _ = decode_image_frames(anim.data, "webp")
    with Image.open(io.BytesIO(second.data)) as still:
        colour = still.convert("RGBA").getpixel((256, 256))
    centre = tuple(int(v) for v in frames[0][256, 256])
    assert max(abs(a - b) for a, b in zip(centre[:3], colour[:3], strict=True)) < 12  # the same sticker
    # animated results are cached and rerollable (the reroll is animated as well)
    again = await service.handle(
        req("", "web", kind=RequestKind.ANIMATE, parent_id=static.record_id, seed=41)
    )
    assert again.stickers[0].sha256 == anim.sha256
    reroll = await service.handle(req("", "web", kind=RequestKind.REROLL, parent_id=reply.record_id))
    assert (
        reroll.ok and reroll.motion == "squash" and reroll.stickers[0].format == StickerFormat.WEBP_ANIMATED
    )
    assert reroll.seed != reply.seed


async def test_animate_unknown_record_or_motion_is_one_line(service: StickerService):
    gone = await service.handle(req("", kind=RequestKind.ANIMATE, parent_id="nope1234"))
    assert gone.error is not None and gone.error.kind == ErrorKind.NOT_FOUND
    bad = await service.handle(req("otter anim:moonwalk"))
    assert bad.error is not None and "moonwalk" in bad.error.message


async def test_an_animation_counts_as_one_request(tmp_path: Path, fake_engine: FakeEngine):
    config = AppConfig(
        limits=LimitsConfig(user_per_minute=1, server_per_minute=100, user_burst=2, server_burst=100)
    )
    service = await make_service(tmp_path, fake_engine, config)
    try:
        first = await service.handle(req("animated otter"))
        animate = await service.handle(req("", kind=RequestKind.ANIMATE, parent_id=first.record_id))
        third = await service.handle(req("animated otter"))
        assert first.ok and animate.ok
        assert third.error is not None and third.error.kind == ErrorKind.RATE_LIMITED
    finally:
        await service.close()
