"""Telegram webhook over two bot processes: the same update posted to both is answered once."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.postgres import free_port
from tests.fakes.telegram_api import FakeBotAPI
from tests.scale.cluster import ROOT

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SECRET = "s3cret_Token-1"


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


def telegram_section(api: FakeBotAPI, port: int) -> str:
    return (
        "telegram:\n  enabled: true\n"
        f"  token: {api.token!r}\n  base_url: {api.base_url}\n  base_file_url: {api.base_file_url}\n"
        "  storage_chat_id: -1009999\n  mode: webhook\n"
        f"  webhook:\n    url: http://127.0.0.1:{port}/tg-hook\n    listen: 127.0.0.1\n    port: {port}\n"
        f"    secret_token: {SECRET}\n"
    )


async def test_same_update_on_both_processes_is_answered_once(start_bots, api: FakeBotAPI) -> None:
    ports = [free_port(), free_port()]
    a, b = await start_bots(2, extra=lambda i: telegram_section(api, ports[i]))
    assert not api.calls_of("getUpdates")  # webhook mode: PTB runs without an updater
    message = api.message_update(4321, 4321, "/sticker otter")
    update = api._updates.pop()  # delivered by webhook, not getUpdates
    async with aiohttp.ClientSession() as http:
        for port in ports:  # a wrong secret is refused by both
            async with http.post(
                f"http://127.0.0.1:{port}/tg-hook",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": "x"},
            ) as resp:
                assert resp.status == 403
        statuses = []
        for port in [*ports, *ports]:  # Telegram redelivers; a balancer sends it anywhere
            async with http.post(
                f"http://127.0.0.1:{port}/tg-hook",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            ) as resp:
                statuses.append(resp.status)
        async with http.post(f"http://127.0.0.1:{ports[0]}/other", json=update) as resp:
            assert resp.status == 404  # only the configured path
    assert statuses == [200, 200, 200, 200]
    [sent] = await api.wait_calls("sendSticker")
    assert sent.params["reply_parameters"]["message_id"] == message["message_id"]
    await asyncio.sleep(1.0)  # give a duplicate every chance to show up
    assert len(api.calls_of("sendSticker")) == 1
    generated = await a.metric("stickerbot_requests_total") + await b.metric("stickerbot_requests_total")
    assert generated == 1
    refused = [line for bot in (a, b) for line in bot.output if "wrong secret token" in line]
    assert len(refused) == 2  # logged once per process
    assert api.violations == []


async def test_set_and_delete_webhook_commands(tmp_path: Path, api: FakeBotAPI) -> None:
    config = tmp_path / "bot.yaml"
    config.write_text(
        telegram_section(api, 8443).replace("127.0.0.1:8443", "bot.example.org"), encoding="utf-8"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    async def cli(*args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "telegram", *args, "--config", str(config), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode()

    code, out = await cli("set-webhook")
    assert code == 0 and "webhook set to http://bot.example.org/tg-hook" in out, out
    assert api.webhook is not None and api.webhook["secret_token"] == SECRET
    assert SECRET not in out and api.token not in out
    code, out = await cli("delete-webhook")
    assert code == 0 and "deleted" in out and api.webhook is None
