"""/sticker, /help, /start, private text, bad input."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from bot.messages import BUTTON_MORE, BUTTON_REROLL, OPTION_EXAMPLES
from tests.fakes.telegram_api import FakeBotAPI
from tests.telegram.conftest import Harness

USER = 4242
GROUP = -100123


def stickers_to(api: FakeBotAPI, chat_id: int) -> list:
    return [c for c in api.calls_of("sendSticker", ok=True) if c.params["chat_id"] == chat_id]


def texts_to(api: FakeBotAPI, chat_id: int) -> list[str]:
    return [c.params["text"] for c in api.calls_of("sendMessage", ok=True) if c.params["chat_id"] == chat_id]


async def test_startup_uses_polling_with_reactions_and_inline(bot: Harness) -> None:
    api = bot.api
    await api.wait_calls("getUpdates")
    assert api.calls_of("getMe", ok=True)
    allowed = api.calls_of("getUpdates")[0].params["allowed_updates"]
    assert {"message", "inline_query", "callback_query", "message_reaction"} <= set(allowed)
    commands = api.calls_of("setMyCommands", ok=True)[0].params["commands"]
    assert {c["command"] for c in commands} == {"sticker", "style", "help"}


async def test_sticker_command_in_group_replies_with_sticker_and_buttons(bot: Harness) -> None:
    api = bot.api
    msg = api.message_update(GROUP, USER, "/sticker eating otter")
    [call] = await api.wait_calls("sendSticker")
    assert call.params["chat_id"] == GROUP
    assert call.params["reply_parameters"]["message_id"] == msg["message_id"]
    assert "sticker" in call.files  # first time: uploaded
    rows = call.params["reply_markup"]["inline_keyboard"]
    data = [b["callback_data"] for row in rows for b in row]
    assert data[0].startswith("r:") and data[1].startswith("m:") and data[2].startswith("p:")
    labels = [b["text"] for row in rows for b in row]
    assert labels == ["🔄 Reroll", "4 more", "➕ Add to my pack", "🎬 Animate"]
    actions = api.calls_of("sendChatAction", ok=True)
    assert actions and actions[0].params == {"chat_id": GROUP, "action": "choose_sticker"}
    assert "eating" in bot.engine.ran[0].prompt


async def test_sticker_command_with_bot_mention_in_private(bot: Harness) -> None:
    api = bot.api
    api.message_update(USER, USER, "/sticker@sticker_test_bot happy otter")
    [call] = await api.wait_calls("sendSticker")
    assert call.params["chat_id"] == USER
    prompt = bot.engine.ran[0].prompt
    assert "happy" in prompt and "sticker_test_bot" not in prompt and "/sticker" not in prompt


async def test_private_text_is_a_sticker_request(bot: Harness) -> None:
    bot.api.message_update(USER, USER, "sleepy cat")
    await bot.api.wait_calls("sendSticker")
    assert "sleepy" in bot.engine.ran[0].prompt and "cat" in bot.engine.ran[0].prompt


async def test_group_text_without_command_is_ignored(bot: Harness) -> None:
    api = bot.api
    api.message_update(GROUP, USER, "just chatting")
    api.message_update(GROUP, USER, "/help")
    await api.wait_calls("sendMessage")
    assert not api.calls_of("sendSticker")
    assert bot.engine.ran == []


async def test_empty_sticker_command_gets_usage_hint(bot: Harness) -> None:
    api = bot.api
    api.message_update(GROUP, USER, "/sticker")
    [call] = await api.wait_calls("sendMessage")
    assert "/sticker eating otter" in call.params["text"]
    assert call.params["parse_mode"] == "HTML"
    assert bot.engine.ran == []


async def test_bad_inputs_get_short_answers(bot: Harness) -> None:
    api = bot.api
    api.message_update(USER, USER, "/sticker " + "otter " * 700)  # ~4200 characters
    api.message_update(USER, USER, "/sticker 😂😂😂")
    api.message_update(USER, USER, "/sticker 食べるカワウソ")
    api.message_update(USER, USER, "/sticker \u200b\u200b")
    await api.wait_for(
        lambda a: len(a.calls_of("sendMessage", ok=True)) + len(a.calls_of("sendSticker", ok=True)) >= 4,
        what="four answers",
    )
    for text in texts_to(api, USER):
        assert 0 < len(text) <= 300
        assert "Traceback" not in text
    assert any("long" in t.lower() for t in texts_to(api, USER))


async def test_help_mentions_reactions_need_admin(bot: Harness) -> None:
    bot.api.message_update(GROUP, USER, "/help")
    [call] = await bot.api.wait_calls("sendMessage")
    text = call.params["text"]
    assert "administrator" in text and "/style" in text and "@sticker_test_bot" in text
    for fact in (*OPTION_EXAMPLES, BUTTON_REROLL, BUTTON_MORE):  # the same facts on every platform
        assert fact in text


async def test_start_greets(bot: Harness) -> None:
    bot.api.message_update(USER, USER, "/start")
    [call] = await bot.api.wait_calls("sendMessage")
    assert "Hi!" in call.params["text"]


async def test_queue_line_shown_and_deleted(harness: Harness) -> None:
    api, engine = harness.api, harness.engine
    engine.delay_s = 0.6
    engine._slots = asyncio.Semaphore(1)
    harness.options = replace(harness.options, chat_action_every_s=0.2)
    await harness.start()
    api.message_update(USER, USER, "/sticker first otter")
    api.message_update(USER + 1, USER + 1, "/sticker second otter")
    api.message_update(USER + 2, USER + 2, "/sticker third otter")
    await api.wait_calls("sendSticker", 3, within_s=15)
    queue_lines = [c for c in api.calls_of("sendMessage", ok=True) if c.params["text"].startswith("⏳ #")]
    assert queue_lines, "someone had to wait"
    await api.wait_calls("deleteMessage", len(queue_lines))
    assert all(c.error is None for c in api.calls_of("deleteMessage"))
    # every queue line went away once its sticker arrived
    waiting_chats = {c.params["chat_id"] for c in queue_lines}
    for chat in waiting_chats:
        sticker_at = stickers_to(api, chat)[0].at
        deleted = [c for c in api.calls_of("deleteMessage") if c.params["chat_id"] == chat]
        assert deleted and deleted[0].at >= sticker_at
    # chat action repeated while waiting
    assert len(api.calls_of("sendChatAction", ok=True)) > 3
    assert api.violations == []


async def test_failed_generation_gets_short_message(bot: Harness) -> None:
    bot.engine.fail_next = 1
    bot.api.message_update(USER, USER, "/sticker otter")
    [call] = await bot.api.wait_calls("sendMessage")
    assert len(call.params["text"]) < 200
    assert not bot.api.calls_of("sendSticker")


async def test_same_sticker_is_never_uploaded_twice(bot: Harness) -> None:
    api = bot.api
    api.message_update(USER, USER, "/sticker otter seed:7")
    await api.wait_calls("sendSticker", 1)
    api.message_update(USER + 1, USER + 1, "/sticker otter seed:7")
    calls = await api.wait_calls("sendSticker", 2)
    assert "sticker" in calls[0].files
    assert calls[1].files == {} and calls[1].params["sticker"] in api.files


async def test_file_ids_survive_a_restart(harness: Harness) -> None:
    api = harness.api
    await harness.start()
    api.message_update(USER, USER, "/sticker otter seed:3")
    await api.wait_calls("sendSticker", 1)
    await harness.stop()
    rows = await harness.service.database.fetchall("SELECT sha256, file_id FROM telegram_file_ids")
    assert len(rows) == 1 and rows[0][1] in api.files

    await harness.start()  # a fresh adapter: its in-memory cache is empty, the database is not
    api.message_update(USER + 1, USER + 1, "/sticker otter seed:3")
    calls = await api.wait_calls("sendSticker", 2)
    assert calls[1].files == {} and calls[1].params["sticker"] == rows[0][1]
    assert api.violations == []


async def test_concurrent_sends_of_one_sticker_upload_it_once(bot: Harness) -> None:
    api = bot.api
    api.inject("sendSticker", "slow", delay_s=0.3)  # the first upload is still in flight ...
    api.message_update(USER, USER, "/sticker otter seed:11")
    api.message_update(USER + 1, USER + 1, "/sticker otter seed:11")  # ... when this one is ready
    calls = await api.wait_calls("sendSticker", 2)
    assert [bool(c.files) for c in calls] == [True, False]
