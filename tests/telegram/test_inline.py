"""Inline mode: 4 candidates, per-user debounce, the deadline, storage-chat uploads."""

from __future__ import annotations

import asyncio

from tests.fakes.telegram_api import FakeBotAPI
from tests.telegram.conftest import STORAGE_CHAT, Harness

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
    # one batched generation of 4, uploaded to the storage chat once each
    assert [r.count for r in bot.engine.ran] == [4]
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
    assert len(bot.engine.ran) == 1
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
    assert len(bot.engine.ran) == 1  # the older keystrokes never reached the engine


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
    assert len(prompts) == 2 and not any(p.startswith("sleepy,") for p in prompts)
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
    assert len(engine.ran) == 1
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
