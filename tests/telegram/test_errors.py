"""Telegram failures: flood limits, timeouts, dropped connections, blocked bot, deleted messages."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from adapters.telegram import TelegramAdapter, TelegramConfigError
from tests.telegram.conftest import Harness

USER = 8080
GROUP = -100888


async def test_flood_limit_is_waited_out_and_retried(bot: Harness) -> None:
    api = bot.api
    api.inject("sendSticker", "retry_after", retry_after=1)
    api.message_update(GROUP, USER, "/sticker otter")
    await api.wait_calls("sendSticker", within_s=10)
    [limited, sent] = api.calls_of("sendSticker")
    assert limited.error and "retry after" in limited.error.lower()
    assert sent.error is None and sent.at - limited.at >= 0.9


async def test_flood_limit_has_one_retry_layer(harness: Harness) -> None:
    """AIORateLimiter retries a 429 `rate_limit_retries` times; nothing retries on top of it (before,
    every Bot API call retried its 429s three more times, so waits multiplied: 2 × 3 attempts here)."""
    harness.options = replace(harness.options, rate_limit_retries=1)
    await harness.start()
    api = harness.api
    api.inject("sendMessage", "retry_after", times=100, retry_after=1, when=lambda p: "/sticker" in p["text"])
    api.message_update(GROUP, USER, "/help")
    help_calls = lambda a: [c for c in a.calls_of("sendMessage") if "/sticker" in c.params["text"]]  # noqa: E731
    await api.wait_for(lambda a: len(help_calls(a)) == 2, within_s=10, what="the retried call")
    await asyncio.sleep(2.5)  # long enough for another retry round to show
    assert len(help_calls(api)) == 2  # one attempt and the rate limiter's one retry, no more
    assert all(c.error and "retry after" in c.error.lower() for c in help_calls(api))


async def test_timeout_is_retried(harness: Harness) -> None:
    harness.options = replace(harness.options, read_timeout_s=0.5, write_timeout_s=0.5)
    await harness.start()
    api = harness.api
    api.inject("sendSticker", "slow", delay_s=1.5)
    api.message_update(GROUP, USER, "/sticker otter")
    await api.wait_calls("sendSticker", 2, ok=None, within_s=10)
    await api.wait_calls("sendSticker", 1)
    assert api.violations == []


async def test_dropped_connection_is_retried(bot: Harness) -> None:
    api = bot.api
    api.inject("sendMessage", "disconnect")
    api.message_update(GROUP, USER, "/help")
    await api.wait_calls("sendMessage", 1)
    assert len(api.calls_of("sendMessage")) == 2


async def test_blocked_bot_is_logged_and_others_still_served(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    api = bot.api
    api.blocked_chats.add(USER)
    with caplog.at_level(logging.INFO, logger="adapters.telegram"):
        api.message_update(USER, USER, "/sticker otter")
        api.message_update(USER + 1, USER + 1, "/sticker otter")
        await api.wait_calls("sendSticker", 1)
        await api.wait_for(lambda a: any("Forbidden" in (c.error or "") for c in a.calls), what="403")
    assert [c.params["chat_id"] for c in api.calls_of("sendSticker", ok=True)] == [USER + 1]
    assert any(str(USER) in r.getMessage() for r in caplog.records)
    assert not any(r.levelno >= logging.ERROR for r in caplog.records)


async def test_deleted_command_message_gets_sticker_without_reply(bot: Harness) -> None:
    api = bot.api
    message = api.message_update(GROUP, USER, "/sticker otter")
    api.delete_user_message(GROUP, message["message_id"])
    [sent] = await api.wait_calls("sendSticker")
    assert "reply_parameters" not in sent.params
    assert sent.files  # uploaded once; the failed reply attempt was rejected before storing anything


async def test_bad_request_on_send_is_logged_not_crashing(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    api = bot.api
    api.inject("sendSticker", "bad_request", description="STICKER_INVALID")
    with caplog.at_level(logging.INFO, logger="adapters.telegram"):
        api.message_update(GROUP, USER, "/sticker otter")
        api.message_update(GROUP, USER, "/help")
        await api.wait_calls("sendMessage", 1)
        await api.wait_for(lambda a: len(a.calls_of("sendSticker")) == 1, what="the failed send")
        await api.wait_for(lambda _: _send_failures(caplog), what="the log line")
    # One WARNING line naming the chat and Telegram's reason; no ERROR, no traceback.
    (record,) = _send_failures(caplog)
    assert record.levelno == logging.WARNING and f"chat {GROUP}" in record.getMessage()
    assert record.exc_info is None
    assert not any(r.levelno >= logging.ERROR for r in caplog.records)
    # the application is still alive and serving
    api.message_update(GROUP, USER, "/sticker otter again")
    await api.wait_calls("sendSticker", 1)


def _send_failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "sticker_invalid" in r.getMessage().lower()]


async def test_polling_survives_get_updates_failures(bot: Harness) -> None:
    api = bot.api
    await api.wait_calls("getUpdates")
    api.inject("getUpdates", "bad_request", times=1, description="injected")
    api.message_update(GROUP, USER, "/help")
    await api.wait_calls("sendMessage", 1, within_s=15)


async def test_chat_action_and_callback_answer_failures_do_not_block(bot: Harness) -> None:
    api = bot.api
    api.inject("sendChatAction", "forbidden", times=100, description="not enough rights")
    api.message_update(GROUP, USER, "/sticker otter")
    await api.wait_calls("sendSticker", 1)
    message_id = api.calls_of("sendSticker", ok=True)[0]
    sticker_message = [m for (c, _), m in api.messages.items() if c == GROUP and "sticker" in m][-1]
    data = [b["callback_data"] for row in message_id.params["reply_markup"]["inline_keyboard"] for b in row]
    api.inject("answerCallbackQuery", "bad_request", description="query is too old")
    api.callback_update(USER, GROUP, sticker_message["message_id"], data[0])
    await api.wait_calls("sendSticker", 2)


async def test_service_exception_gets_short_message(bot: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    async def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(bot.service, "handle", boom)
    bot.api.message_update(GROUP, USER, "/sticker otter")
    [call] = await bot.api.wait_calls("sendMessage")
    assert "fire" not in call.params["text"] and len(call.params["text"]) < 100


async def test_token_never_reaches_the_logs(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        await harness.start()
        harness.api.inject("sendSticker", "disconnect")
        harness.api.message_update(GROUP, USER, "/sticker otter")
        await harness.api.wait_calls("sendSticker")
        await harness.stop()
    secret = harness.api.token.split(":", 1)[1]
    assert caplog.records
    assert not [r for r in caplog.records if secret in r.getMessage() or secret in (r.exc_text or "")]


async def test_rejected_token_is_a_clear_startup_error(harness: Harness) -> None:
    harness.config = harness.config.model_copy(update={"token": "123:wrong"})
    with pytest.raises(TelegramConfigError, match=r"telegram\.token"):
        await harness.start()
    assert harness.adapter is not None
    await harness.adapter.stop()  # safe after a failed start


def test_missing_token_is_a_clear_config_error(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STICKERBOT_TELEGRAM_TOKEN", raising=False)
    with pytest.raises(TelegramConfigError, match="STICKERBOT_TELEGRAM_TOKEN"):
        TelegramAdapter(harness.config.model_copy(update={"token": None}), harness.service)


async def test_unexpected_handler_errors_get_an_apology(
    bot: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("settings table missing")

    monkeypatch.setattr(bot.service, "default_style", broken)
    monkeypatch.setattr(bot.service, "record", broken)
    api = bot.api
    with caplog.at_level(logging.ERROR, logger="adapters.telegram"):
        message = api.message_update(GROUP, USER, "/style")
        api.callback_update(USER, GROUP, message["message_id"], "p:abc:0")
        [apology] = await api.wait_calls("sendMessage")
        [toast] = await api.wait_calls("answerCallbackQuery")
    assert (
        apology.params["text"]
        == toast.params["text"]
        == "Sorry, something went wrong on my side. Please try again."
    )
    assert "missing" not in apology.params["text"]
    assert any(f"chat {GROUP}" in r.getMessage() for r in caplog.records)
