"""The sticker service with teaching attached: "my dog" reaches the engine as the subject's LoRA,
rerolls keep it, the cache never mixes subjects, and an unknown "@me:" gets one sentence."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.config import AppConfig, ModelConfig
from bot.teaching.service import Teacher, TeachService
from bot.types import RequestKind, StickerRequest
from tests.fakes.fake_engine import FakeEngine
from tests.fakes.service_factory import GENEROUS_LIMITS, make_service
from tests.teach.conftest import StepTrainer, teach_config
from tests.teach.helpers import dog_photos


def ask(user: str, text: str = "", **more: object) -> StickerRequest:
    return StickerRequest(platform="web", user_id=user, conversation_id="r", server_id="r", text=text, **more)  # type: ignore[arg-type]


async def test_my_dog_reroll_cache_and_unknown(tmp_path: Path) -> None:
    engine = FakeEngine()
    service = await make_service(tmp_path, engine=engine, config=AppConfig(limits=GENEROUS_LIMITS))
    try:
        trainer = StepTrainer()
        trainer.release.set()
        teaching = TeachService(
            teach_config(tmp_path), ModelConfig(device="cpu"), service.database, trainer=trainer
        )
        await teaching.start()
        service.teaching = teaching
        for user in ("alice", "bob"):
            await teaching.teach(Teacher("web", "r", user), "dog", dog_photos(4, start=len(user) * 10))
            async with asyncio.timeout(10):
                while teaching.queue.running or teaching.queue.waiting:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)

        first = await service.handle(ask("alice", "my dog waving seed:4"))
        assert first.error is None and engine.ran[-1].subject_lora is not None
        alice_lora = engine.ran[-1].subject_lora
        record = await service.record(first.record_id or "")
        assert record is not None and record.text == "my dog waving"

        again = await service.handle(
            ask("alice", record.text, kind=RequestKind.REROLL, parent_id=first.record_id)
        )
        assert again.error is None and engine.ran[-1].subject_lora == alice_lora
        assert (await service.record(again.record_id or "")).text == "my dog waving"  # type: ignore[union-attr]

        bobs = await service.handle(ask("bob", "my dog waving seed:4"))  # same words and seed, his own dog
        assert bobs.error is None and not bobs.cached and engine.ran[-1].subject_lora != alice_lora

        unknown = await service.handle(ask("alice", "@me:rex waving"))
        assert unknown.error is not None and "teach me with /teach rex" in unknown.error.message
    finally:
        await service.close()
