"""A chat platform that can't be reached at start never takes the bot down (issue 13, item 12).

Before, `App.start` raised (exit 1 with a ~130-line traceback) and the web room went down with it.
Now the unreachable platform is one log line, it is retried with backoff, and the rest runs.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.request
from pathlib import Path

import pytest

from bot.app import App
from bot.config import DiscordConfig, TelegramConfig, WebConfig
from tests.core.test_app import make_config, wait_until
from tests.fakes.fake_engine import FakeEngine
from tests.fakes.postgres import free_port
from tests.fakes.telegram_api import FakeBotAPI


def nobody_listens() -> str:
    return f"127.0.0.1:{free_port()}"


async def test_unreachable_platforms_leave_the_web_room_running(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    closed = nobody_listens()
    config = make_config(tmp_path)
    config.web = config.web.model_copy(update={"port": free_port()})
    config.telegram = TelegramConfig(
        enabled=True,
        token="123:unreachable",
        base_url=f"http://{closed}/bot",
        base_file_url=f"http://{closed}/file/bot",
    )
    config.discord = DiscordConfig(
        enabled=True,
        token="unreachable",
        api_base_url=f"http://{closed}/api/v10",
        gateway_url=f"ws://{closed}/gw",
    )
    app = App(config, engine=FakeEngine(), platform_retry_s=(30.0, 60.0))
    try:
        with caplog.at_level(logging.INFO):
            async with asyncio.timeout(60):
                await app.start()  # returns: before, it raised and stopped everything
        assert app.platforms.retrying == {"telegram", "discord"}
        url = f"http://127.0.0.1:{config.web.port}/"
        status = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).status)
        assert status == 200  # the web room serves
        lines = [r for r in caplog.records if r.name == "bot.app" and "is unreachable" in r.getMessage()]
        assert sorted(r.getMessage().split()[0] for r in lines) == ["discord", "telegram"]  # one line each
        assert all(r.levelno == logging.WARNING and r.exc_info is None for r in lines)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert "123:unreachable" not in caplog.text  # the token never reaches the log
    finally:
        await app.stop()


async def test_telegram_is_retried_until_it_can_be_reached(tmp_path: Path) -> None:
    async with FakeBotAPI() as api:
        api.inject("getMe", "disconnect", times=2)  # the first two connections fail
        config = make_config(tmp_path)
        config.web = WebConfig(enabled=False)
        config.telegram = TelegramConfig(
            enabled=True, token=api.token, base_url=api.base_url, base_file_url=api.base_file_url
        )
        app = App(config, engine=FakeEngine(), platform_retry_s=(0.2, 0.4))
        try:
            await app.start()
            assert app.platforms.retrying == {"telegram"}
            await wait_until(lambda: not app.platforms.retrying)
            assert len(api.calls_of("getMe")) >= 3
            api.message_update(4242, 4242, "/help")
            await api.wait_calls("sendMessage", 1, within_s=10)  # serving after the retry
        finally:
            await app.stop()
