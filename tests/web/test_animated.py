"""Animated stickers in the web room: `animated …` and the 🎬 Animate frame post animated WebPs."""

from __future__ import annotations

import io

from PIL import Image

from tests.web.conftest import Harness
from tests.web.test_stickers import make_sticker


async def _frames(room, url: str) -> int:
    resp = await room.client.get(url)
    assert resp.status == 200 and resp.content_type == "image/webp"
    with Image.open(io.BytesIO(await resp.read())) as img:
        assert img.format == "WEBP" and img.mode == "RGBA"
        return getattr(img, "n_frames", 1)


async def test_animated_text_posts_an_animated_webp(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice")
    posted = await make_sticker(room, alice, "/sticker animated waving otter")
    assert await _frames(room, posted["sticker"]["url"]) > 1


async def test_animate_frame_brings_that_sticker_to_life(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice")
    bob = await room.join("Bob")
    first = await make_sticker(room, alice)
    await bob.message("sticker")
    assert await _frames(room, first["sticker"]["url"]) == 1
    await bob.send("animate", record_id=first["sticker"]["record_id"], sha256=first["sticker"]["sha256"])
    animated = await alice.message("sticker")
    assert animated["author"]["name"] == "Bob"
    assert await _frames(room, animated["sticker"]["url"]) > 1
    assert len(room.engine.ran) == 1  # nothing new was drawn
