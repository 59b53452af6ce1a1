"""Bot round trip through the Telegram adapter: `/sticker …` in → sticker out, minus generation time.

Runs the real python-telegram-bot adapter and the real `StickerService` (SQLite in a temporary
folder) against the fake Bot API of the test suite (an aiohttp server on 127.0.0.1), with the real
engine on the tiny model. The overhead is the time from the update being offered to the bot until
the fake API receives `sendSticker`, minus the engine's own time for that request. Needs a source
checkout (the fake server lives in `tests/fakes/`).
"""

from __future__ import annotations

import asyncio
import importlib.util
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from generator.api import (
    AnimationResult,
    EngineHealth,
    EngineStats,
    GenerationRequest,
    GenerationResult,
    PositionCallback,
    StickerEngine,
    StyleSummary,
)

USER = 4242


class RoundTripUnavailable(Exception):
    """The adapter or the fake Bot API this measurement needs is not importable here."""


class TimedEngine(StickerEngine):
    """Passes everything to the real engine and remembers how long each `generate` took."""

    def __init__(self, inner: StickerEngine) -> None:
        self.inner = inner
        self.generate_ms: list[float] = []

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    def styles(self) -> Sequence[StyleSummary]:
        return self.inner.styles()

    def queue_length(self) -> int:
        return self.inner.queue_length()

    def unavailable_styles(self) -> Mapping[str, str]:
        return self.inner.unavailable_styles()

    def health(self) -> EngineHealth:
        return self.inner.health()

    def stats(self) -> EngineStats:
        return self.inner.stats()

    async def animate(self, request: GenerationRequest, formats: Sequence[str]) -> AnimationResult:
        return await self.inner.animate(request, formats)

    async def generate(
        self, request: GenerationRequest, on_position: PositionCallback | None = None
    ) -> GenerationResult:
        started = time.perf_counter()
        try:
            return await self.inner.generate(request, on_position)
        finally:
            self.generate_ms.append((time.perf_counter() - started) * 1000)


def measure_telegram_roundtrip(inner: StickerEngine, runs: int = 10) -> list[float]:
    """Overhead in ms of each of `runs` sequential sticker commands (the first, warm-up one excluded)."""
    for module in ("adapters.telegram", "tests.fakes.telegram_api", "tests.fakes.service_factory"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise RoundTripUnavailable(f"{module} is not importable (run from a source checkout)")
    return asyncio.run(_roundtrip(inner, runs))


@asynccontextmanager
async def telegram_bot(
    engine: StickerEngine, options: Any = None, **config: Any
) -> AsyncIterator[tuple[Any, Any]]:
    """The real Telegram adapter and service (SQLite in a temporary folder) against the fake Bot API,
    started: yields `(api, service)`; stops both (the service closes the engine) on the way out."""
    from adapters.telegram import AdapterOptions, TelegramAdapter
    from bot.config import TelegramConfig
    from tests.fakes.service_factory import make_service
    from tests.fakes.telegram_api import FakeBotAPI

    with tempfile.TemporaryDirectory(prefix="stickerbot-bench-") as tmp:
        async with FakeBotAPI() as api:
            service = await make_service(Path(tmp), engine)
            settings = TelegramConfig(
                enabled=True,
                token=api.token,
                base_url=api.base_url,
                base_file_url=api.base_file_url,
                storage_chat_id=-1009999,
                **config,
            )
            adapter = TelegramAdapter(settings, service, options=options or AdapterOptions(stop_grace_s=2.0))
            await adapter.start()
            try:
                await api.wait_calls("getUpdates")
                yield api, service
            finally:
                await adapter.stop()
                await service.close()


async def _roundtrip(inner: StickerEngine, runs: int) -> list[float]:
    engine = TimedEngine(inner)
    overheads: list[float] = []
    async with telegram_bot(engine) as (api, _service):
        for i in range(runs + 1):
            sent = len(api.calls_of("sendSticker", ok=True))
            generated = len(engine.generate_ms)
            started = time.monotonic()
            api.message_update(USER, USER, f"/sticker eating otter number {i}")
            calls = await api.wait_calls("sendSticker", sent + 1, within_s=120)
            elapsed_ms = (calls[sent].at - started) * 1000
            engine_ms = sum(engine.generate_ms[generated:])
            if i > 0:
                overheads.append(elapsed_ms - engine_ms)
    return overheads
