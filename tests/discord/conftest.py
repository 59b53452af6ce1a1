"""Fixtures: a fake Discord on 127.0.0.1, the real core service (FakeEngine, SQLite), the real adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.discord import DiscordAdapter, create_adapter
from bot.config import AppConfig, DiscordConfig, ModelConfig
from bot.service import StickerService
from bot.teaching.service import TeachService
from tests.fakes.discord_server import FakeDiscord, FakeGuild
from tests.fakes.fake_engine import FakeEngine
from tests.fakes.service_factory import make_service
from tests.teach.conftest import StepTrainer, teach_config

StartBot = Callable[..., Awaitable[DiscordAdapter]]


@pytest.fixture
async def service(tmp_path: Path, fake_engine: FakeEngine) -> AsyncIterator[StickerService]:
    svc = await make_service(tmp_path, fake_engine)
    try:
        yield svc
    finally:
        await svc.close()


@pytest.fixture
def discord_config(fake_discord: FakeDiscord) -> DiscordConfig:
    return DiscordConfig(
        enabled=True,
        token=fake_discord.token,
        api_base_url=fake_discord.api_base_url,
        gateway_url=fake_discord.gateway_url,
    )


@pytest.fixture
async def start_bot(
    fake_discord: FakeDiscord, service: StickerService, discord_config: DiscordConfig
) -> AsyncIterator[StartBot]:
    """Start an adapter (stopped at teardown); keyword arguments override DiscordConfig fields."""
    started: list[DiscordAdapter] = []

    async def start(svc: Any = None, **overrides: Any) -> DiscordAdapter:
        config = discord_config.model_copy(update=overrides)
        adapter = create_adapter(config, svc or service, AppConfig(discord=config))
        assert isinstance(adapter, DiscordAdapter)
        await adapter.start()
        started.append(adapter)
        return adapter

    try:
        yield start
    finally:
        for adapter in reversed(started):
            await adapter.stop()


@pytest.fixture
def guild(fake_discord: FakeDiscord) -> FakeGuild:
    return fake_discord.add_guild("Otter club", channels=2, members=3)


@pytest.fixture
async def bot(start_bot: StartBot, guild: FakeGuild) -> DiscordAdapter:
    return await start_bot()


@pytest.fixture
async def trainer(service: StickerService, tmp_path: Path) -> AsyncIterator[StepTrainer]:
    """Teaching on the service, with a trainer that steps when the test says (tests/teach)."""
    trainer = StepTrainer()
    teaching = TeachService(
        teach_config(tmp_path), ModelConfig(device="cpu"), service.database, trainer=trainer
    )
    await teaching.start()
    service.teaching = teaching
    yield trainer
    trainer.release.set()


@pytest.fixture
async def teach_bot(start_bot: StartBot, guild: FakeGuild, trainer: StepTrainer) -> DiscordAdapter:
    return await start_bot()


def option(name: str, value: Any, kind: int = 3, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, "value": value, **extra}


def subcommand(name: str, *options: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "type": 1, "options": list(options)}
