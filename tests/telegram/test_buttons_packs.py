"""Buttons under stickers: reroll, 4 more, add to my pack (create, add, 120 limit, start first, names)."""

from __future__ import annotations

from bot.messages import STICKER_GONE
from tests.fakes.telegram_api import BOT_USERNAME, MAX_STATIC_SET_SIZE, FakeBotAPI, StickerSetState
from tests.telegram.conftest import Harness

USER = 6060
GROUP = -100777


async def sticker_message(api: FakeBotAPI, chat_id: int = GROUP, user_id: int = USER) -> dict:
    """Ask for a sticker; return the message the bot sent and its buttons' callback data."""
    before = len(api.calls_of("sendSticker", ok=True))
    api.message_update(chat_id, user_id, "/sticker waving otter")
    await api.wait_calls("sendSticker", before + 1)
    sent = [m for (c, _), m in api.messages.items() if c == chat_id and "sticker" in m]
    return sent[-1]


def button_data(api: FakeBotAPI, index: int) -> list[str]:
    call = api.calls_of("sendSticker", ok=True)[index]
    data = [b["callback_data"] for row in call.params["reply_markup"]["inline_keyboard"] for b in row]
    return data[:3]  # reroll, more, add to pack (🎬 Animate follows: tests/telegram/test_animated.py)


def toasts(api: FakeBotAPI) -> list[dict]:
    return [c.params for c in api.calls_of("answerCallbackQuery", ok=True)]


async def test_reroll_replies_with_a_new_seed(bot: Harness) -> None:
    api = bot.api
    message = await sticker_message(api)
    reroll, _, _ = button_data(api, 0)
    api.callback_update(USER, GROUP, message["message_id"], reroll)
    calls = await api.wait_calls("sendSticker", 2)
    assert calls[1].params["reply_parameters"]["message_id"] == message["message_id"]
    first, second = bot.engine.ran
    assert first.prompt == second.prompt and first.seed != second.seed
    assert toasts(api)[0]["text"]


async def test_four_more_sends_four_stickers_each_with_buttons(bot: Harness) -> None:
    api = bot.api
    message = await sticker_message(api)
    _, more, _ = button_data(api, 0)
    api.callback_update(USER, GROUP, message["message_id"], more)
    calls = await api.wait_calls("sendSticker", 5)
    assert bot.engine.ran[-1].count == 4
    adds = [button_data(api, i)[2] for i in range(1, 5)]
    assert [a.rsplit(":", 1)[1] for a in adds] == ["0", "1", "2", "3"]
    assert all(c.params["reply_parameters"]["message_id"] == message["message_id"] for c in calls[1:])


async def test_add_to_pack_creates_then_adds_with_the_sticker_emoji(bot: Harness) -> None:
    api = bot.api
    api.started_users.add(USER)
    message = await sticker_message(api)
    _, _, add = button_data(api, 0)
    api.callback_update(USER, GROUP, message["message_id"], add)
    [create] = await api.wait_calls("createNewStickerSet")
    name = create.params["name"]
    assert name == f"stickers_{USER}_by_{BOT_USERNAME}"
    sticker = create.params["stickers"][0]
    assert sticker["sticker"] in api.files  # the file_id from the first send, not a new upload
    assert sticker["emoji_list"] and sticker["format"] == "static"
    link = await api.wait_calls("sendMessage")
    assert link[-1].params["chat_id"] == USER
    assert f"https://t.me/addstickers/{name}" in link[-1].params["text"]
    await api.wait_calls("answerCallbackQuery")

    api.callback_update(USER, GROUP, message["message_id"], add)
    await api.wait_calls("addStickerToSet")
    assert len(api.sticker_sets[name.lower()].stickers) == 2
    assert len(api.calls_of("sendSticker", ok=True)) == 1  # never uploaded again


async def test_pack_needs_the_user_to_have_started_the_bot(bot: Harness) -> None:
    api = bot.api
    message = await sticker_message(api)
    _, _, add = button_data(api, 0)
    api.callback_update(USER, GROUP, message["message_id"], add)
    [toast] = await api.wait_calls("answerCallbackQuery")
    assert "Start" in toast.params["text"] and toast.params["show_alert"] is True
    assert api.sticker_sets == {}


async def test_full_pack_is_reported(bot: Harness) -> None:
    api = bot.api
    api.started_users.add(USER)
    name = f"stickers_{USER}_by_{BOT_USERNAME}"
    message = await sticker_message(api)
    sticker = {
        "file_id": "x",
        "file_unique_id": "ux",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    api.sticker_sets[name.lower()] = StickerSetState(name, "mine", USER, [sticker] * MAX_STATIC_SET_SIZE)
    _, _, add = button_data(api, 0)
    api.callback_update(USER, GROUP, message["message_id"], add)
    [toast] = await api.wait_calls("answerCallbackQuery")
    assert "120" in toast.params["text"]
    assert not api.calls_of("addStickerToSet")


async def test_name_collision_falls_back_to_the_next_name(bot: Harness) -> None:
    api = bot.api
    api.started_users.add(USER)
    taken = f"stickers_{USER}_by_{BOT_USERNAME}"
    api.sticker_sets[taken.lower()] = StickerSetState(taken, "someone else's", 1, [])
    message = await sticker_message(api)
    _, _, add = button_data(api, 0)
    api.callback_update(USER, GROUP, message["message_id"], add)
    [create] = await api.wait_calls("createNewStickerSet")
    assert create.params["name"] == f"stickers_{USER}_2_by_{BOT_USERNAME}"
    await api.wait_calls("answerCallbackQuery")
    # the fallback name is remembered
    api.callback_update(USER, GROUP, message["message_id"], add)
    [added] = await api.wait_calls("addStickerToSet")
    assert added.params["name"] == create.params["name"]


async def test_every_name_taken_gets_a_clear_answer(bot: Harness) -> None:
    api = bot.api
    api.started_users.add(USER)
    for suffix in ("", "_2", "_3"):
        name = f"stickers_{USER}{suffix}_by_{BOT_USERNAME}"
        api.sticker_sets[name.lower()] = StickerSetState(name, "taken", 1, [])
    message = await sticker_message(api)
    _, _, add = button_data(api, 0)
    api.callback_update(USER, GROUP, message["message_id"], add)
    [toast] = await api.wait_calls("answerCallbackQuery")
    assert "name" in toast.params["text"]


async def test_unknown_or_expired_buttons_get_a_short_answer(bot: Harness) -> None:
    api = bot.api
    message = await sticker_message(api)
    api.callback_update(USER, GROUP, message["message_id"], "garbage")
    api.callback_update(USER, GROUP, message["message_id"], "r:doesnotexist")
    api.callback_update(USER, GROUP, message["message_id"], "p:doesnotexist:0")
    await api.wait_calls("answerCallbackQuery", 3)
    assert all(t.get("text") for t in toasts(api))
    [gone] = await api.wait_calls("sendMessage")  # for the reroll
    assert gone.params["text"] == STICKER_GONE
    assert len(bot.engine.ran) == 1


async def test_add_to_pack_from_an_inline_sticker(bot: Harness) -> None:
    api = bot.api
    api.started_users.add(USER)
    api.inline_update(USER, "jumping otter")
    [answer] = await api.wait_calls("answerInlineQuery")
    data = answer.params["results"][2]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    query_id = "cb-inline"
    api._callback_queries.add(query_id)
    api.push_update(
        {
            "callback_query": {
                "id": query_id,
                "from": {"id": USER, "is_bot": False, "first_name": "U"},
                "chat_instance": "x",
                "inline_message_id": "IM1",
                "data": data,
            }
        }
    )
    [create] = await api.wait_calls("createNewStickerSet")
    assert create.params["stickers"][0]["sticker"] == answer.params["results"][2]["sticker_file_id"]


async def test_double_tap_creates_one_pack(bot: Harness) -> None:
    api = bot.api
    api.started_users.add(USER)
    message = await sticker_message(api)
    _, _, add = button_data(api, 0)
    api.inject("createNewStickerSet", "slow", delay_s=0.3)  # the second tap arrives mid-creation
    api.callback_update(USER, GROUP, message["message_id"], add)
    api.callback_update(USER, GROUP, message["message_id"], add)
    await api.wait_calls("answerCallbackQuery", 2)
    assert list(api.sticker_sets) == [f"stickers_{USER}_by_{BOT_USERNAME}".lower()]
    assert len(next(iter(api.sticker_sets.values())).stickers) == 2
