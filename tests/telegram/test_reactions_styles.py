"""Reactions → stickers; /style listing and setting with the admin check done through the Bot API."""

from __future__ import annotations

from tests.telegram.conftest import Harness

USER = 7070
GROUP = -100555


async def test_reaction_with_known_emoji_replies_with_that_expression(bot: Harness) -> None:
    api = bot.api
    message = api.message_update(GROUP, USER + 1, "that was hilarious")
    api.reaction_update(GROUP, USER, message["message_id"], ["😂"])
    [call] = await api.wait_calls("sendSticker")
    assert call.params["reply_parameters"]["message_id"] == message["message_id"]
    assert "laughing" in bot.engine.ran[0].prompt


async def test_unknown_removed_and_repeated_reactions_are_ignored(bot: Harness) -> None:
    api = bot.api
    message = api.message_update(GROUP, USER + 1, "hello")
    api.reaction_update(GROUP, USER, message["message_id"], ["🦜"])  # not in the table
    api.reaction_update(GROUP, USER, message["message_id"], [], old=["😂"])  # removed
    api.reaction_update(GROUP, USER, message["message_id"], ["😂"], old=["😂"])  # unchanged
    api.push_update(
        {
            "message_reaction": {
                "chat": {"id": GROUP, "type": "supergroup", "title": "g"},
                "message_id": message["message_id"],
                "user": {"id": USER, "is_bot": False, "first_name": "U"},
                "date": 0,
                "old_reaction": [],
                "new_reaction": [{"type": "custom_emoji", "custom_emoji_id": "123"}],
            }
        }
    )
    api.message_update(GROUP, USER, "/help")  # a marker: processed after the reactions
    await api.wait_calls("sendMessage")
    assert not api.calls_of("sendSticker") and not api.calls_of("sendChatAction")
    assert bot.engine.ran == []


async def test_reaction_on_a_deleted_message_still_answers(bot: Harness) -> None:
    api = bot.api
    message = api.message_update(GROUP, USER + 1, "soon gone")
    api.delete_user_message(GROUP, message["message_id"])
    api.reaction_update(GROUP, USER, message["message_id"], ["😭"])
    calls = await api.wait_calls("sendSticker")
    failed = [c for c in api.calls_of("sendSticker") if c.error]
    assert failed and "replied not found" in failed[0].error
    assert "reply_parameters" not in calls[0].params


async def test_style_lists_styles_with_current(bot: Harness) -> None:
    bot.api.message_update(GROUP, USER, "/style")
    [call] = await bot.api.wait_calls("sendMessage")
    text = call.params["text"]
    assert "otter" in text and "rabbit" in text and "current" in text


async def test_group_style_change_needs_admin_checked_via_api(bot: Harness) -> None:
    api = bot.api
    api.message_update(GROUP, USER, "/style rabbit")
    [refusal] = await api.wait_calls("sendMessage")
    assert "admin" in refusal.params["text"].lower()
    [member] = api.calls_of("getChatMember")
    assert member.params == {"chat_id": GROUP, "user_id": USER}

    api.admins[GROUP].add(USER)
    api.message_update(GROUP, USER, "/style rabbit")
    await api.wait_calls("sendMessage", 2)
    api.message_update(GROUP, USER + 5, "/sticker otter")
    await api.wait_calls("sendSticker")
    assert bot.engine.ran[-1].style == "rabbit"


async def test_private_chat_style_change_needs_no_admin(bot: Harness) -> None:
    api = bot.api
    api.message_update(USER, USER, "/style rabbit")
    await api.wait_calls("sendMessage")
    assert not api.calls_of("getChatMember")
    api.message_update(USER, USER, "/sticker otter")
    await api.wait_calls("sendSticker")
    assert bot.engine.ran[-1].style == "rabbit"


async def test_unknown_style_gets_a_short_answer(bot: Harness) -> None:
    bot.api.message_update(USER, USER, "/style ../../etc/passwd")
    [call] = await bot.api.wait_calls("sendMessage")
    assert "style" in call.params["text"].lower() and len(call.params["text"]) < 300


async def test_admin_check_failure_is_treated_as_not_admin(bot: Harness) -> None:
    api = bot.api
    api.admins[GROUP].add(USER)
    api.inject("getChatMember", "bad_request", times=3, description="chat not found")
    api.message_update(GROUP, USER, "/style rabbit")
    [call] = await api.wait_calls("sendMessage")
    assert "admin" in call.params["text"].lower()
