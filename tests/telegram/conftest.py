"""Telegram adapter tests: the real PTB Application against the fake Bot API, on the real service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from adapters.telegram import AdapterOptions, TelegramAdapter
from bot.config import TelegramConfig
from bot.service import StickerService
from tests.fakes.fake_engine import FakeEngine
from tests.fakes.service_factory import make_service
from tests.fakes.telegram_api import FakeBotAPI

STORAGE_CHAT = -1009999
FAST = AdapterOptions(
    poll_timeout_s=0.25,
    chat_action_every_s=4.0,
    inline_debounce_s=0.2,
    inline_upload_margin_s=0.5,
    inline_animated=False,  # the static-candidate tests; tests/telegram/test_inline_animated.py turns it on
    overall_max_rate=10_000,
    group_max_rate=10_000,
    read_timeout_s=3.0,
    write_timeout_s=3.0,
    stop_grace_s=5.0,
)


@dataclass
class Harness:
    api: FakeBotAPI
    service: StickerService
    engine: FakeEngine
    config: TelegramConfig
    options: AdapterOptions = field(default_factory=lambda: FAST)
    adapter: TelegramAdapter | None = None

    async def start(self) -> TelegramAdapter:
        self.adapter = TelegramAdapter(self.config, self.service, options=self.options)
        await self.adapter.start()
        return self.adapter

    async def stop(self) -> None:
        if self.adapter is not None:
            await self.adapter.stop()
            self.adapter = None


def telegram_config(api: FakeBotAPI, **overrides: object) -> TelegramConfig:
    values: dict[str, object] = {
        "enabled": True,
        "token": api.token,
        "base_url": api.base_url,
        "base_file_url": api.base_file_url,
        "storage_chat_id": STORAGE_CHAT,
        "inline_deadline_s": 6.0,  # room for all four candidates on a loaded machine
    }
    values.update(overrides)
    return TelegramConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
async def service(tmp_path: Path, engine: FakeEngine) -> AsyncIterator[StickerService]:
    svc = await make_service(tmp_path, engine)
    try:
        yield svc
    finally:
        await svc.close()


@pytest.fixture
async def harness(api: FakeBotAPI, service: StickerService, engine: FakeEngine) -> AsyncIterator[Harness]:
    """Not started: a test may tune `config`/`options` first, then `await harness.start()`."""
    h = Harness(api=api, service=service, engine=engine, config=telegram_config(api))
    try:
        yield h
    finally:
        await h.stop()


@pytest.fixture
async def bot(harness: Harness) -> AsyncIterator[Harness]:
    """A started adapter; fails the test if the bot sent anything Telegram would reject."""
    await harness.start()
    yield harness
    await harness.stop()
    assert harness.api.violations == []
