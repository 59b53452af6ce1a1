"""/teach dog + an album of photos against the fake Bot API: progress by editing one message, the
preview photo, "my dog" in /sticker, /forget — and bad photos answered in one message."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import ModelConfig
from bot.teaching.service import TeachService
from tests.teach.conftest import StepTrainer, teach_config
from tests.teach.helpers import dog_photo
from tests.telegram.conftest import Harness

USER = 4242
GROUP = -100123


@pytest.fixture
async def teach_bot(harness: Harness, tmp_path: Path) -> AsyncIterator[tuple[Harness, StepTrainer]]:
    trainer = StepTrainer()
    teaching = TeachService(
        teach_config(tmp_path), ModelConfig(device="cpu"), harness.service.database, trainer=trainer
    )
    await teaching.start()
    harness.service.teaching = teaching
    harness.options = dataclasses.replace(harness.options, teach_settle_s=0.3)
    await harness.start()
    yield harness, trainer
    await harness.stop()
    assert harness.api.violations == []


def texts_to(harness: Harness, chat_id: int) -> list[str]:
    calls = harness.api.calls_of("sendMessage", ok=True) + harness.api.calls_of("editMessageText", ok=True)
    return [c.params["text"] for c in calls if c.params["chat_id"] == chat_id]


async def test_teach_album_progress_preview_use_and_forget(teach_bot: tuple[Harness, StepTrainer]) -> None:
    bot, trainer = teach_bot
    api = bot.api
    api.message_update(GROUP, USER, "/teach dog")
    await api.wait_for(
        lambda a: any("photos of your dog" in t for t in texts_to(bot, GROUP)), what="the prompt"
    )
    for i in range(4):
        api.photo_update(GROUP, USER, dog_photo(i), media_group_id="album1")
    await api.wait_for(
        lambda a: any("Learning your dog: ▓" in t for t in texts_to(bot, GROUP)), what="progress"
    )
    status_ids = {c.params["message_id"] for c in api.calls_of("editMessageText", ok=True)}
    assert len(status_ids) == 1  # one message, edited
    trainer.release.set()
    [preview] = await api.wait_calls("sendPhoto")
    assert preview.params["chat_id"] == GROUP and preview.files["photo"].startswith(b"\x89PNG")
    await api.wait_for(lambda a: any("I know your “dog” now" in t for t in texts_to(bot, GROUP)), what="done")

    api.message_update(GROUP, USER, "/sticker my dog waving")
    await api.wait_calls("sendSticker")
    assert bot.engine.ran[-1].subject_lora is not None and "sks dog" in bot.engine.ran[-1].prompt

    api.message_update(GROUP, USER, "/forget dog")
    await api.wait_for(lambda a: any(t.startswith("Forgotten") for t in texts_to(bot, GROUP)), what="forget")


async def test_bad_photos_get_one_answer(teach_bot: tuple[Harness, StepTrainer]) -> None:
    bot, _trainer = teach_bot
    api = bot.api
    api.message_update(GROUP, USER, "/teach dog")
    await api.wait_for(
        lambda a: any("photos of your dog" in t for t in texts_to(bot, GROUP)), what="the prompt"
    )
    api.photo_update(GROUP, USER, dog_photo(1))
    await api.wait_for(
        lambda a: any("got 1 photo" in t for t in texts_to(bot, GROUP)), what="the refusal of one photo"
    )
    api.message_update(GROUP, USER, "/teach ../etc")
    await api.wait_for(
        lambda a: any("short name" in t for t in texts_to(bot, GROUP)), what="the name refusal"
    )


async def test_teachsettings_only_for_chat_admins(teach_bot: tuple[Harness, StepTrainer]) -> None:
    bot, _trainer = teach_bot
    api = bot.api
    api.message_update(GROUP, USER, "/teachsettings members off")
    await api.wait_for(lambda a: any("Only the owners" in t for t in texts_to(bot, GROUP)), what="refusal")
    api.admins[GROUP].add(USER)  # the Bot API now says USER is an administrator
    api.message_update(GROUP, USER, "/teachsettings members off sharing server")
    await api.wait_for(
        lambda a: any("may not teach" in t and "shared with everyone" in t for t in texts_to(bot, GROUP)),
        what="the change",
    )
    api.message_update(GROUP, USER, "/teachsettings colour blue")
    await api.wait_for(lambda a: any("members on|off" in t for t in texts_to(bot, GROUP)), what="usage")
    api.admins[GROUP].discard(USER)
    api.message_update(GROUP, USER + 1, "/teach dog")  # refused at once, before any photos are asked for
    await api.wait_for(
        lambda a: any("Only the owners can teach" in t for t in texts_to(bot, GROUP)), what="members refused"
    )
    assert not any("photos of your dog" in t for t in texts_to(bot, GROUP))
