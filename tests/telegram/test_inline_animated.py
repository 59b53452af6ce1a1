"""Inline mode with the animated candidate: four static stickers plus the first one animated (a WEBM
video sticker, validated by the fake Bot API as Telegram does), one rate-limit charge for all of it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bot.config import AppConfig, LimitsConfig
from tests.fakes.fake_engine import FakeEngine
from tests.fakes.service_factory import make_service
from tests.fakes.telegram_api import EBML_MAGIC, FakeBotAPI
from tests.telegram.conftest import FAST, Harness, telegram_config
from tests.telegram.test_inline import USER, answers_for


async def test_four_static_candidates_then_the_first_animated(harness: Harness) -> None:
    api = harness.api
    harness.options = replace(FAST, inline_animated=True)
    harness.config = harness.config.model_copy(update={"inline_deadline_s": 9.0})
    await harness.start()
    query_id = api.inline_update(USER, "waving otter")
    await api.wait_for(lambda a: answers_for(a, query_id), within_s=12, what="answer")
    [answer] = answers_for(api, query_id)
    first = answer.params["results"]
    # the four static ones always; the animated one when it was uploaded in time (else it is kept)
    assert len(first) in (4, 5) and {r["type"] for r in first} == {"sticker"}
    assert "button" not in answer.params
    await api.wait_calls("sendSticker", 5, within_s=20)  # each uploaded to the storage chat once
    again = api.inline_update(USER, "waving otter")
    await api.wait_for(lambda a: answers_for(a, again), within_s=12, what="second answer")
    results = answers_for(api, again)[0].params["results"]
    videos = [api.files[r["sticker_file_id"]][:4] == EBML_MAGIC for r in results]
    assert videos == [False, False, False, False, True]  # the WEBM video sticker is offered last
    assert len(api.calls_of("sendSticker")) == 5
    assert [r.count for r in harness.engine.ran] == [1, 3]  # the animation draws nothing anew
    assert api.violations == []


async def test_the_animated_candidate_is_part_of_the_same_charge(api: FakeBotAPI, tmp_path: Path) -> None:
    limits = LimitsConfig(user_per_minute=1, server_per_minute=100, user_burst=1, server_burst=100)
    engine = FakeEngine()
    service = await make_service(tmp_path, engine, AppConfig(limits=limits))
    config = telegram_config(api, inline_deadline_s=9.0)
    harness = Harness(api, service, engine, config, replace(FAST, inline_animated=True))
    await harness.start()
    try:
        query_id = api.inline_update(USER, "sleepy otter")
        await api.wait_for(lambda a: answers_for(a, query_id), within_s=12, what="answer")
        assert answers_for(api, query_id)[0].params["results"]
        await api.wait_calls("sendSticker", 5, within_s=20)  # the rest and the animation: not refused
    finally:
        await harness.stop()
        await service.close()


def test_the_operator_turns_the_animated_candidate_on_in_the_config() -> None:
    from adapters.telegram import create_adapter
    from bot.config import AppConfig

    for value in (False, True):
        app_config = AppConfig.model_validate({"telegram": {"inline_animated": value, "token": "1:x"}})
        adapter = create_adapter(app_config.telegram, None, app_config)  # type: ignore[arg-type]
        assert adapter.options.inline_animated is value  # type: ignore[attr-defined]
