"""Inline mode: 4 candidates, per-user debounce, the deadline, storage-chat uploads."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from generator.api import GenerationRequest, GenerationResult, PositionCallback
from tests.fakes.fake_engine import FakeEngine, _call, fake_sticker
from tests.fakes.service_factory import make_service
from tests.fakes.telegram_api import FakeBotAPI
from tests.telegram.conftest import STORAGE_CHAT, Harness, telegram_config

USER = 5151


def answers_for(api: FakeBotAPI, query_id: str) -> list:
    return [c for c in api.calls_of("answerInlineQuery") if c.params["inline_query_id"] == query_id]


async def test_inline_query_offers_four_cached_stickers(bot: Harness) -> None:
    api = bot.api
    query_id = api.inline_update(USER, "eating otter")
    [answer] = await api.wait_calls("answerInlineQuery")
    assert answer.params["inline_query_id"] == query_id
    results = answer.params["results"]
    assert len(results) == 4
    assert {r["type"] for r in results} == {"sticker"}
    assert len({r["id"] for r in results}) == 4
    assert all(r["sticker_file_id"] in api.files for r in results)
    assert all(r["reply_markup"]["inline_keyboard"][0][0]["callback_data"].startswith("p:") for r in results)
    assert answer.params["is_personal"] is True
    assert "button" not in answer.params
    # the first candidate alone, then the other three with the following seeds (one query, one
    # rate-limit charge), uploaded to the storage chat once each
    first, rest = bot.engine.ran
    assert (first.count, rest.count, rest.seed) == (1, 3, first.seed + 1)
    assert first.request_id == rest.request_id
    uploads = api.calls_of("sendSticker", ok=True)
    assert len(uploads) == 4 and all(c.params["chat_id"] == STORAGE_CHAT for c in uploads)
    assert all(c.params.get("disable_notification") is True for c in uploads)


async def test_repeated_query_is_answered_from_cache_without_new_work(bot: Harness) -> None:
    api = bot.api
    api.inline_update(USER, "eating otter")
    await api.wait_calls("answerInlineQuery", 1)
    second = api.inline_update(USER, "Eating   otter")
    await api.wait_calls("answerInlineQuery", 2)
    assert len(answers_for(api, second)[0].params["results"]) == 4
    assert [r.count for r in bot.engine.ran] == [1, 3]  # one query's work
    assert len(api.calls_of("sendSticker")) == 4


async def test_newer_keystroke_supersedes_older_query(bot: Harness) -> None:
    api = bot.api
    first = api.inline_update(USER, "eat")
    second = api.inline_update(USER, "eating")
    third = api.inline_update(USER, "eating otter")
    await api.wait_calls("answerInlineQuery", 1)
    await asyncio.sleep(0.3)
    assert answers_for(api, first) == [] and answers_for(api, second) == []
    assert len(answers_for(api, third)[0].params["results"]) == 4
    assert [r.count for r in bot.engine.ran] == [1, 3]  # the older keystrokes never reached the engine


async def test_other_users_queries_are_independent(bot: Harness) -> None:
    api = bot.api
    a = api.inline_update(USER, "happy otter")
    b = api.inline_update(USER + 1, "sad otter")
    await api.wait_calls("answerInlineQuery", 2)
    assert answers_for(api, a) and answers_for(api, b)


async def test_queued_older_query_is_cancelled_when_superseded(harness: Harness) -> None:
    api, engine = harness.api, harness.engine
    engine.delay_s = 0.8
    engine._slots = asyncio.Semaphore(1)
    harness.config = harness.config.model_copy(update={"inline_deadline_s": 4.0})
    await harness.start()
    other = api.inline_update(USER + 9, "busy otter")  # occupies the engine
    await asyncio.sleep(0.15)
    old = api.inline_update(USER, "sleepy")  # waits in line behind it
    await asyncio.sleep(0.3)
    new = api.inline_update(USER, "sleepy jumping")
    await api.wait_for(lambda a: answers_for(a, new), within_s=10, what="answer to the newest query")
    assert answers_for(api, other)
    assert answers_for(api, old) == []
    prompts = [r.prompt for r in engine.ran]
    assert sorted(set(prompts)) == ["busy, otter, dm-sticker", "sleepy jumping, otter, dm-sticker"]
    assert not any(p.startswith("sleepy,") for p in prompts)
    assert api.violations == []


async def test_slow_generation_answers_before_deadline_with_private_chat_button(harness: Harness) -> None:
    api, engine = harness.api, harness.engine
    engine.delay_s = 2.0
    harness.config = harness.config.model_copy(update={"inline_deadline_s": 1.0})
    await harness.start()
    query_id = api.inline_update(USER, "dancing otter")
    [answer] = await api.wait_calls("answerInlineQuery", within_s=5)
    assert answer.error is None  # inside Telegram's limit
    assert answer.params["results"] == []
    button = answer.params["button"]
    assert button["start_parameter"]
    assert answer.params["cache_time"] == 0
    # the late stickers are uploaded in the background and serve the next identical query at once
    await api.wait_calls("sendSticker", 4, within_s=10)
    again = api.inline_update(USER, "dancing otter")
    await api.wait_for(lambda a: answers_for(a, again), within_s=5, what="cached answer")
    assert len(answers_for(api, again)[0].params["results"]) == 4
    assert [r.count for r in engine.ran] == [1, 3]  # made once, for both queries
    assert answers_for(api, query_id)
    # the button's start parameter brings the query into the private chat
    engine.delay_s = 0.0
    api.message_update(USER, USER, f"/start {button['start_parameter']}")
    await api.wait_for(
        lambda a: any(c.params["chat_id"] == USER for c in a.calls_of("sendSticker", ok=True)),
        what="sticker in private chat",
    )
    assert "dancing" in engine.ran[-1].prompt
    assert api.violations == []


async def test_long_query_start_parameter_round_trips(harness: Harness) -> None:
    api, engine = harness.api, harness.engine
    harness.config = harness.config.model_copy(update={"storage_chat_id": None})
    await harness.start()
    text = "a very long description of an otter eating a pizza on a skateboard at night"
    api.inline_update(USER, text)
    [answer] = await api.wait_calls("answerInlineQuery")
    param = answer.params["button"]["start_parameter"]
    assert len(param) <= 64
    api.message_update(USER, USER, f"/start {param}")
    await api.wait_calls("sendSticker")
    assert "skateboard" in engine.ran[0].prompt
    assert api.violations == []


async def test_empty_query_gets_a_hint_button(bot: Harness) -> None:
    bot.api.inline_update(USER, "   ")
    [answer] = await bot.api.wait_calls("answerInlineQuery")
    assert answer.params["results"] == [] and answer.params["button"]["text"]
    assert bot.engine.ran == []


async def test_rejected_query_answers_with_the_reason(bot: Harness) -> None:
    bot.api.inline_update(USER, "x" * 1000)
    [answer] = await bot.api.wait_calls("answerInlineQuery")
    assert answer.params["results"] == []
    assert 0 < len(answer.params["button"]["text"]) <= 64
    assert bot.engine.ran == []


async def test_storage_upload_failure_still_answers_in_time(bot: Harness) -> None:
    api = bot.api
    api.inject("sendSticker", "bad_request", times=1, description="chat not found")
    query_id = api.inline_update(USER, "waving otter")
    await api.wait_for(lambda a: answers_for(a, query_id), what="answer")
    [answer] = answers_for(api, query_id)
    assert answer.error is None
    assert len(answer.params["results"]) == 3
    assert answer.params["button"]["start_parameter"]


class PerImageEngine(FakeEngine):
    """One job at a time, `per_image_s` per candidate: a busy machine where four cost four times one.

    Its stickers come from a pool drawn up front, so the time per image is what the test says."""

    def __init__(self, per_image_s: float) -> None:
        super().__init__(max_batch=1)
        self.per_image_s = per_image_s
        self._pool = [fake_sticker("pool", seed) for seed in range(40)]

    async def generate(
        self, request: GenerationRequest, on_position: PositionCallback | None = None
    ) -> GenerationResult:
        async with self._slots:
            if on_position is not None:
                await _call(on_position, 0)
            await asyncio.sleep(self.per_image_s * request.count)
        self.ran.append(request)
        stickers = tuple(
            replace(self._pool[(len(self.ran) * 4 + i) % len(self._pool)], seed=seed)
            for i, seed in enumerate(request.seeds())
        )
        return GenerationResult(request=request, stickers=stickers)


@pytest.mark.slow
async def test_under_load_every_query_gets_a_sticker_by_the_deadline(api: FakeBotAPI, tmp_path: Path) -> None:
    """8 users type at once; drawing all 4 candidates for everyone takes 8 × 0.8 s, past the 4 s
    deadline. Before the fix the last queries were answered with nothing; now every answer carries
    at least its first candidate, and the rest is kept for the next identical query."""
    engine = PerImageEngine(per_image_s=0.2)
    service = await make_service(tmp_path, engine)
    config = telegram_config(api, inline_deadline_s=4.0)
    harness = Harness(api=api, service=service, engine=engine, config=config)
    try:
        await harness.start()
        users = [USER + i for i in range(8)]
        queries = {user: api.inline_update(user, f"otter number {user}") for user in users}
        await api.wait_for(
            lambda a: all(answers_for(a, q) for q in queries.values()), within_s=15, what="all answers"
        )
        counts = [len(answers_for(api, q)[0].params["results"]) for q in queries.values()]
        assert all(c >= 1 for c in counts), counts
        assert all(answers_for(api, q)[0].error is None for q in queries.values())
        last = users[-1]
        partial = answers_for(api, queries[last])[0]
        assert len(partial.params["results"]) < 4 and partial.params["cache_time"] == 0
        await api.wait_for(lambda a: len(engine.ran) == 16, within_s=15, what="the rest made")
        again = api.inline_update(last, f"otter number {last}")
        await api.wait_for(lambda a: answers_for(a, again), within_s=10, what="the repeated query")
        assert len(answers_for(api, again)[0].params["results"]) == 4  # kept, not drawn again
        assert len(engine.ran) == 16
        assert api.violations == []
    finally:
        await harness.stop()
        await service.close()
