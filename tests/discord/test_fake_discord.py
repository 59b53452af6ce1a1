"""The fake Discord itself: it must reject what Discord rejects, or the adapter tests prove nothing."""

from __future__ import annotations

import io
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from PIL import Image

from tests.fakes.discord_server import FakeDiscord, FakeGuild, FakeInteraction, Upload


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def interaction(fake: FakeDiscord, guild: FakeGuild, age_s: float) -> FakeInteraction:
    inter = FakeInteraction(1, "tok", 2, guild.id, guild.channel_id, guild.members[0], "sticker")
    inter.dispatched_at = time.monotonic() - age_s
    fake.interactions[inter.id] = inter
    fake._by_token[inter.token] = inter
    return inter


async def test_a_late_first_response_is_an_unknown_interaction(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    guild = fake.add_guild()
    interaction(fake, guild, age_s=3.5)
    url = f"{fake.api_base_url}/interactions/1/tok/callback"
    async with http.post(url, json={"type": 5}) as resp:
        assert resp.status == 404 and (await resp.json())["code"] == 10062
    assert fake.violations and "limit 3 s" in fake.violations[0]


async def test_injected_429_carries_retry_after_like_discord(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    fake.fail("GET", "/users/@me$", 429, retry_after=0.5)
    headers = {"Authorization": f"Bot {fake.token}"}
    async with http.get(f"{fake.api_base_url}/users/@me", headers=headers) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "0.500" and resp.headers["Via"]
        assert (await resp.json())["retry_after"] == 0.5
    async with http.get(f"{fake.api_base_url}/users/@me", headers=headers) as resp:
        assert resp.status == 200  # the fault was for one call only


async def test_attachments_must_be_webp_with_alpha(fake: FakeDiscord, http: aiohttp.ClientSession) -> None:
    guild = fake.add_guild()
    opaque = io.BytesIO()
    Image.new("RGB", (64, 64)).save(opaque, "WEBP")
    form = aiohttp.FormData()
    payload = {"content": "x", "attachments": [{"id": 0, "filename": "a.webp"}]}
    form.add_field("payload_json", json.dumps(payload), content_type="application/json")
    form.add_field("files[0]", opaque.getvalue(), filename="a.webp", content_type="image/webp")
    url = f"{fake.api_base_url}/channels/{guild.channel_id}/messages"
    async with http.post(url, data=form, headers={"Authorization": f"Bot {fake.token}"}) as resp:
        assert resp.status == 400
    assert "no alpha channel" in fake.violations[0]


def test_server_stickers_must_be_png_320() -> None:
    webp, big_png, good = io.BytesIO(), io.BytesIO(), io.BytesIO()
    Image.new("RGBA", (320, 320)).save(webp, "WEBP")
    Image.new("RGBA", (512, 512)).save(big_png, "PNG")
    Image.new("RGBA", (320, 320)).save(good, "PNG")
    assert FakeDiscord._check_server_sticker(Upload("s.webp", webp.getvalue(), None))
    assert FakeDiscord._check_server_sticker(Upload("s.png", big_png.getvalue(), None))
    assert FakeDiscord._check_server_sticker(Upload("s.png", good.getvalue(), None)) == []
