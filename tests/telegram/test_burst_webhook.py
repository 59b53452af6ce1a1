"""Load shape (200 updates from 20 chats, every one answered) and webhook mode with a secret token."""

from __future__ import annotations

import socket

import aiohttp

from bot.config import TelegramWebhookConfig
from tests.telegram.conftest import Harness


async def test_burst_of_200_updates_from_20_chats_all_answered(bot: Harness) -> None:
    api = bot.api
    chats = [-100_000 - i for i in range(10)] + [9_000 + i for i in range(10)]
    expected: set[tuple[int, int]] = set()
    for round_ in range(10):
        for n, chat in enumerate(chats):
            user = chat if chat > 0 else 50_000 + n
            message = api.message_update(chat, user, f"/sticker otter number {round_} seed:{round_}")
            expected.add((chat, message["message_id"]))
    await api.wait_calls("sendSticker", 200, within_s=90)
    answered = {
        (c.params["chat_id"], c.params["reply_parameters"]["message_id"])
        for c in api.calls_of("sendSticker", ok=True)
    }
    assert answered == expected
    assert not [c for c in api.calls if c.error]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_webhook_mode_with_secret_token(harness: Harness) -> None:
    api = harness.api
    port = _free_port()
    hook = TelegramWebhookConfig(
        url=f"http://127.0.0.1:{port}/tg-hook", listen="127.0.0.1", port=port, secret_token="s3cret_Token-1"
    )
    harness.config = harness.config.model_copy(update={"webhook": hook})
    await harness.start()
    [set_hook] = await api.wait_calls("setWebhook")
    assert set_hook.params["url"] == hook.url
    assert set_hook.params["secret_token"] == "s3cret_Token-1"
    assert "message_reaction" in set_hook.params["allowed_updates"]
    assert not api.calls_of("getUpdates")

    message = api.message_update(4321, 4321, "/sticker otter")
    update = api._updates.pop()  # deliver it by webhook instead of getUpdates
    async with aiohttp.ClientSession() as session:
        async with session.post(
            hook.url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
        ) as resp:
            assert resp.status == 403
        async with session.post(
            hook.url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret_Token-1"}
        ) as resp:
            assert resp.status == 200
    [sent] = await api.wait_calls("sendSticker")
    assert sent.params["reply_parameters"]["message_id"] == message["message_id"]
    assert len(harness.engine.ran) == 1
    assert api.violations == []
