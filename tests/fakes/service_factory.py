"""A real `StickerService` for adapter and core tests: SQLite under `tmp_path`, FakeEngine by default.

    service = await make_service(tmp_path)          # FakeEngine, generous rate limits
    try:
        reply = await service.handle(StickerRequest(...))
        service.database                            # adapters may migrate/use their own tables
    finally:
        await service.close()                       # closes the database and the engine

Pass `config` to test limits or other settings; its storage is moved under `tmp_path` unless
it already names a non-default database URL (e.g. a PostgreSQL one).
"""

from __future__ import annotations

from pathlib import Path

from bot.config import AppConfig, LimitsConfig, StorageConfig
from bot.service import StickerService, with_storage_under
from generator.api import StickerEngine
from tests.fakes.fake_engine import FakeEngine

# Adapter tests send many requests from one user; the core's own tests pass their own limits.
GENEROUS_LIMITS = LimitsConfig(
    user_per_minute=10_000, server_per_minute=10_000, user_burst=1_000, server_burst=1_000
)


async def make_service(
    tmp_path: Path, engine: StickerEngine | None = None, config: AppConfig | None = None
) -> StickerService:
    if config is None:
        config = AppConfig(limits=GENEROUS_LIMITS)
    if config.storage == StorageConfig():
        config = with_storage_under(config, Path(tmp_path))
    elif config.storage.cache_dir == StorageConfig().cache_dir:
        cache_dir = str(Path(tmp_path) / "cache")
        config = config.model_copy(
            update={"storage": config.storage.model_copy(update={"cache_dir": cache_dir})}
        )
    engine = engine or FakeEngine()
    await engine.start()  # started here, so closed by `service.close()`
    try:
        return await StickerService.create(config, engine, owns_engine=True)
    except BaseException:
        await engine.close()
        raise
