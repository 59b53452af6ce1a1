"""The composition root: start-up, adapters by name, graceful shutdown on SIGTERM, metrics endpoint."""

from __future__ import annotations

import asyncio
import os
import signal
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.app import App, enabled_adapters
from bot.config import AppConfig, LimitsConfig, MetricsConfig
from bot.service import with_storage_under
from bot.types import ErrorKind, StickerRequest
from generator.api import GenerationRequest, GenerationResult, PositionCallback
from tests.core.fake_adapter import FakeAdapter, FakeAdapterModule
from tests.fakes.fake_engine import FakeEngine
from tests.fakes.postgres import free_port
from tests.fakes.service_factory import GENEROUS_LIMITS


class GatedEngine(FakeEngine):
    def __init__(self) -> None:
        super().__init__(max_batch=1)
        self.gate = asyncio.Event()
        self.started_jobs = 0

    async def generate(
        self, request: GenerationRequest, on_position: PositionCallback | None = None
    ) -> GenerationResult:
        self.started_jobs += 1
        await self.gate.wait()
        return await super().generate(request, on_position)


def make_config(tmp_path: Path, **limits: float) -> AppConfig:
    lim = LimitsConfig(**{**GENEROUS_LIMITS.__dict__, **limits})
    return with_storage_under(AppConfig(limits=lim), tmp_path)


def req(text: str) -> StickerRequest:
    return StickerRequest("web", "u1", "lobby", "lobby", text=text)


async def wait_until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(30):
        while not condition():  # noqa: ASYNC110 (polling state that has no event)
            await asyncio.sleep(0.005)


def test_only_the_web_room_is_enabled_by_default() -> None:
    assert enabled_adapters(AppConfig()) == ["web"]


async def test_start_serve_stop(tmp_path: Path) -> None:
    engine = FakeEngine()
    module = FakeAdapterModule()
    config = make_config(tmp_path)
    app = App(config, engine=engine, adapter_modules={"web": module})
    await app.start()
    try:
        (adapter,) = module.created
        assert module.sections == [config.web]
        assert adapter.started
        reply = await adapter.ask(req("eating otter"))
        assert reply.ok
    finally:
        await app.stop()
    assert engine.closed
    assert app.service is not None and app.service.database.closed
    await app.stop()  # idempotent


async def test_engine_comes_from_the_factory(tmp_path: Path) -> None:
    built: list[FakeEngine] = []

    def factory(config: AppConfig) -> FakeEngine:
        built.append(FakeEngine())
        return built[-1]

    app = App(make_config(tmp_path), engine_factory=factory, adapter_modules={"web": FakeAdapterModule()})
    await app.start()
    await app.stop()
    assert len(built) == 1 and built[0].closed


class BrokenAdapterModule(FakeAdapterModule):
    def create_adapter(self, section: object, service: object, app_config: object) -> FakeAdapter:
        raise RuntimeError("port already in use")


async def test_failed_start_cleans_up(tmp_path: Path) -> None:
    engine = FakeEngine()
    app = App(make_config(tmp_path), engine=engine, adapter_modules={"web": BrokenAdapterModule()})
    with pytest.raises(RuntimeError, match="port already in use"):
        await app.start()
    assert engine.closed
    assert app.service is not None and app.service.database.closed


async def test_sigterm_lets_in_flight_requests_finish(tmp_path: Path) -> None:
    engine = GatedEngine()
    module = FakeAdapterModule()
    app = App(make_config(tmp_path, shutdown_grace_s=30.0), engine=engine, adapter_modules={"web": module})
    runner = asyncio.create_task(app.run())
    await wait_until(lambda: bool(module.created) and module.created[0].started)
    adapter = module.created[0]
    adapter.push(req("eating otter"))
    await wait_until(lambda: engine.started_jobs == 1)

    os.kill(os.getpid(), signal.SIGTERM)
    await wait_until(lambda: not adapter.accepting)
    assert app.service is not None
    late = await app.service.handle(req("too late"))
    assert late.error is not None and late.error.kind == ErrorKind.SHUTTING_DOWN
    assert not runner.done()  # still waiting for the in-flight request

    engine.gate.set()
    reply = await adapter.pop()
    assert reply.ok and reply.prompt == "eating, otter, dm-sticker"
    await asyncio.wait_for(runner, 30)
    assert engine.closed and app.service.database.closed


async def test_requests_get_an_error_reply_when_the_grace_period_ends(tmp_path: Path) -> None:
    engine = GatedEngine()  # never opens: the request would hang forever
    module = FakeAdapterModule()
    config = make_config(tmp_path, shutdown_grace_s=0.2, max_in_flight=1)
    app = App(config, engine=engine, adapter_modules={"web": module})
    runner = asyncio.create_task(app.run())
    await wait_until(lambda: bool(module.created) and module.created[0].started)
    adapter = module.created[0]
    adapter.push(req("generating"))
    await wait_until(lambda: engine.started_jobs == 1)
    adapter.push(req("waiting in line"))
    assert app.service is not None
    await wait_until(lambda: app.service.admission.waiting == 1)

    os.kill(os.getpid(), signal.SIGINT)
    replies = [await adapter.pop(), await adapter.pop()]
    assert [r.error.kind if r.error else None for r in replies] == [ErrorKind.SHUTTING_DOWN] * 2
    await asyncio.wait_for(runner, 30)
    assert engine.closed


async def test_metrics_endpoint_when_enabled(tmp_path: Path) -> None:
    port = free_port()
    config = make_config(tmp_path)
    config.metrics = MetricsConfig(enabled=True, host="127.0.0.1", port=port)
    module = FakeAdapterModule()
    app = App(config, engine=FakeEngine(), adapter_modules={"web": module})
    await app.start()
    try:
        await module.created[0].ask(req("sad"))
        url = f"http://127.0.0.1:{port}/metrics"
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=30).read().decode())
        assert 'stickerbot_requests_total{kind="command",platform="web"} 1.0' in body
        assert "stickerbot_queue_length" in body
        # One generation job for the cache miss, named for what it counts (not "generations").
        assert 'stickerbot_generation_jobs_total{style="otter"} 1.0' in body
        assert "stickerbot_generations_total" not in body
    finally:
        await app.stop()
    with pytest.raises(OSError):
        await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=2).read())


class HungPipeline:
    """A model whose call never returns (a stuck driver): only a bounded shutdown can end the bot."""

    def __init__(self) -> None:
        import threading

        self.unavailable: dict[str, Exception] = {}
        self.entered = threading.Event()
        self.release = threading.Event()

    def activate_style(self, name: str) -> float:
        return 0.0

    def run(self, prompts, negative_prompts, seeds, steps, width, height):
        self.entered.set()
        self.release.wait()
        raise RuntimeError("released by the test")

    def warmup(self) -> None:
        pass


async def test_sigterm_is_bounded_by_the_grace_period_when_the_model_hangs(tmp_path: Path) -> None:
    from generator.engine import Engine

    pipeline = HungPipeline()
    engine = Engine(lambda: pipeline, FakeEngine().styles(), warmup=False)
    module = FakeAdapterModule()
    app = App(make_config(tmp_path, shutdown_grace_s=0.3), engine=engine, adapter_modules={"web": module})
    runner = asyncio.create_task(app.run())
    try:
        await wait_until(lambda: bool(module.created) and module.created[0].started)
        adapter = module.created[0]
        adapter.push(req("eating otter"))
        await wait_until(pipeline.entered.is_set)
        loop = asyncio.get_running_loop()
        stopped_at = loop.time()
        os.kill(os.getpid(), signal.SIGTERM)
        reply = await adapter.pop()
        assert reply.error is not None and reply.error.kind == ErrorKind.SHUTTING_DOWN
        await asyncio.wait_for(runner, 10)  # before the fix: waited for the model forever
        assert loop.time() - stopped_at < 5.0
    finally:
        pipeline.release.set()
