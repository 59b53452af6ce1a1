"""Shared fixtures. Area-specific fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fake_engine import FakeEngine
from tests.fakes.postgres import PostgresServer


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight SDXL pipeline saved with `save_pretrained` (built once per session).

    Load it with `StableDiffusionXLPipeline.from_pretrained(dir, local_files_only=True)` or point
    `ModelConfig(path=str(dir))` at it.
    """
    from generator.tiny import save_tiny_pipeline

    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-sdxl") / "model")


@pytest.fixture(scope="session")
def tiny_lora_files(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two different random LoRAs (diffusers/peft `.safetensors`) for the tiny model's UNet.

    Their factors are large enough (std 0.3) that fusing them visibly changes the tiny model's images.
    """
    from diffusers import UNet2DConditionModel

    from generator.lora_files import write_random_lora

    unet = UNet2DConditionModel.from_pretrained(tiny_model_dir, subfolder="unet", local_files_only=True)
    directory = tmp_path_factory.mktemp("tiny-loras")
    return [
        write_random_lora(directory / "tiny-lora-a.safetensors", unet, rank=4, seed=1, std=0.3),
        write_random_lora(directory / "tiny-lora-b.safetensors", unet, rank=8, seed=2, std=0.3),
    ]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server (Debian packages) for the whole session; see tests/fakes/postgres.py."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a fresh, empty PostgreSQL schema on the session server (one per test)."""
    return postgres_server.new_database()


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """The fake Discord (REST + gateway) on 127.0.0.1; the test fails if the bot broke its rules."""
    fake = FakeDiscord()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
    assert fake.violations == [], "the bot broke Discord's rules"
