from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.service import StickerService
from tests.core.fake_adapter import FakeAdapter
from tests.fakes.fake_engine import FakeEngine
from tests.fakes.service_factory import make_service


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each kind: SQLite in tmp_path, and PostgreSQL on the session server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/test.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def service(tmp_path: Path, fake_engine: FakeEngine) -> AsyncIterator[StickerService]:
    svc = await make_service(tmp_path, fake_engine)
    try:
        yield svc
    finally:
        await svc.close()


@pytest.fixture
def adapter(service: StickerService) -> FakeAdapter:
    return FakeAdapter(service)
