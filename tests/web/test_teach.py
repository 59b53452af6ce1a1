"""Teaching through the real web room: `/teach dog`, photos by HTTP POST, progress frames on the
WebSocket, the done notice with its preview, "my dog" in a sticker prompt, and `/forget`. The
training itself is the step-on-command trainer (tests/teach: the real subprocess has its own tests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.config import ModelConfig
from bot.teaching.service import TeachService
from tests.teach.conftest import StepTrainer, teach_config
from tests.teach.helpers import dog_photo, png_header_bomb
from tests.web.conftest import ChatHarness, Harness, Peer


@pytest.fixture
async def room(chat: Harness, tmp_path: Path) -> AsyncIterator[tuple[ChatHarness, StepTrainer]]:
    harness = await chat()
    trainer = StepTrainer()
    teaching = TeachService(
        teach_config(tmp_path), ModelConfig(device="cpu"), harness.service.database, trainer=trainer
    )
    await teaching.start()
    harness.service.teaching = teaching
    yield harness, trainer


def form(room: str, name: str, photos: list[tuple[str, bytes]]) -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field("room", room)
    data.add_field("name", name)
    for filename, content in photos:
        data.add_field("photo", content, filename=filename, content_type="image/jpeg")
    return data


async def upload(
    harness: ChatHarness, peer: Peer, name: str, photos: list[tuple[str, bytes]]
) -> tuple[int, dict]:
    session = peer.welcome["you"]["session"]
    room = peer.welcome["room"]["name"]
    response = await harness.client.post(
        "/teach", data=form(room, name, photos), headers={"X-Stickerbot-Session": session}
    )
    return response.status, await response.json()


def dogs(count: int, start: int = 0) -> list[tuple[str, bytes]]:
    return [(f"dog_{i}.jpg", dog_photo(start + i)) for i in range(count)]


async def test_teach_progress_done_sticker_and_forget(room: tuple[ChatHarness, StepTrainer]) -> None:
    harness, trainer = room
    alice = await harness.join("alice")
    await alice.send("chat", text="/teach dog")
    opened = await alice.expect("teach_open")
    assert opened["name"] == "dog" and opened["min"] == 4 and opened["max"] == 20

    status, answer = await upload(harness, alice, "dog", dogs(4))
    assert status == 200 and answer["ok"] and "learning your “dog”" in answer["message"]
    await alice.expect("teach", status="queued")
    running = await alice.expect("teach", status="running", step=1)
    assert running["steps"] == 10 and running["percent"] == 10
    trainer.release.set()
    done = await alice.expect("teach", status="done")
    assert done["percent"] == 100 and done["preview"].startswith("data:image/png;base64,")

    await alice.send("chat", text="/sticker my dog waving")
    await alice.message("sticker")
    drawn = harness.engine.ran[-1]
    assert (
        "sks dog" in drawn.prompt
        and drawn.subject_lora is not None
        and drawn.subject_lora.endswith(f"{answer['job']}.safetensors")
    )

    bob = await harness.join("bob")  # another user in the same room: alice's dog is private
    await bob.send("chat", text="/sticker my dog waving")
    await bob.message("sticker")
    assert harness.engine.ran[-1].subject_lora is None

    await alice.send("chat", text="/forget dog")
    notice = await alice.expect("notice")
    assert notice["text"].startswith("Forgotten")
    assert not await asyncio.to_thread(Path(drawn.subject_lora).exists)
    await alice.send("chat", text="/forget all")
    assert "Forgotten: all" in (await alice.expect("notice"))["text"]


async def test_bad_uploads_get_one_clear_answer(room: tuple[ChatHarness, StepTrainer]) -> None:
    harness, _trainer = room
    alice = await harness.join("alice")
    cases = [
        (dogs(0), "got no photos"),
        (dogs(1), "got 1 photo"),
        (dogs(50), "That's 50 photos; send at most 20"),
        (
            [*dogs(3), ("notes.jpg", b"plain text, not a photo\n" * 40)],
            "notes.jpg (that file is not an image",
        ),
        ([*dogs(3), ("bomb.png", png_header_bomb(30000))], "bomb.png (image is too large"),
    ]
    for photos, said in cases:
        status, answer = await upload(harness, alice, "dog", photos)
        assert status == 400 and said in answer["error"], answer
    status, answer = await upload(harness, alice, "../../etc", dogs(4))
    assert status == 400 and "short name" in answer["error"]

    status, _ = await upload(harness, alice, "dog", dogs(4))
    assert status == 200
    status, answer = await upload(harness, alice, "cat", dogs(4, start=10))  # two at once from one user
    assert status == 400 and "one at a time" in answer["error"]

    anonymous = await harness.client.post("/teach", data=form("lobby", "dog", dogs(4)))
    assert anonymous.status == 401
    foreign = await harness.client.post(
        "/teach",
        data=form("lobby", "dog", dogs(4)),
        headers={"X-Stickerbot-Session": alice.welcome["you"]["session"], "Origin": "http://evil.example"},
    )
    assert foreign.status == 403


async def test_teach_settings_need_the_admin_token(chat: Harness, tmp_path: Path) -> None:
    from bot.config import WebConfig

    harness = await chat(web=WebConfig(port=0, admin_token="boss-secret"))
    teaching = TeachService(
        teach_config(tmp_path), ModelConfig(device="cpu"), harness.service.database, trainer=StepTrainer()
    )
    await teaching.start()
    harness.service.teaching = teaching
    member = await harness.join("Member")
    await member.send("chat", text="/teach-settings members off")
    refusal = await member.expect("notice", level="error")
    assert "Only the owners" in refusal["text"]

    boss = await harness.join("Boss", token="boss-secret")
    await boss.send("chat", text="/teach-settings members off sharing server")
    changed = await boss.expect("notice", level="info")
    assert "may not teach" in changed["text"] and "shared with everyone" in changed["text"]
    status, answer = await upload(harness, member, "dog", dogs(4))
    assert status != 200 or not answer["ok"]
    assert "Only the owners can teach" in str(answer)
