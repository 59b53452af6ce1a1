"""The bot's side of trouble: a cluster without the app (the bot still starts, says so in one line,
and recovers when the app comes up) and a full queue (the bot is told "busy" at once)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import App
from bot.config import AppConfig
from bot.service import with_storage_under
from bot.types import StickerRequest
from generator.api import GenerationRequest, GenerationResult, Overloaded
from generator.options import EngineConfig, ModelConfig
from generator.serve.client import RayEngine
from tests.core.fake_adapter import FakeAdapterModule
from tests.fakes.service_factory import GENEROUS_LIMITS
from tests.ray.conftest import deploy, ray_configs

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.timeout(600),
]  # the shared session setup can be slow

TIGHT = {"max_ongoing_requests": 1, "max_queued_requests": 1}
"""One request on the replica and one waiting: the third is refused."""


@pytest.fixture(scope="module")
def tight_configs(
    ray_cluster: None, tiny_model_dir: Path, ray_styles_dir: Path
) -> Iterator[tuple[ModelConfig, EngineConfig]]:
    model, engine = ray_configs(tiny_model_dir, ray_styles_dir, "stickerbot-tight", **TIGHT)
    engine.max_wait_ms = 0.0
    engine.ray.reconnect_max_s = 1.0
    yield model, engine
    from ray import serve

    serve.delete(engine.ray.app)  # frees its replica for the other modules


def ask(text: str) -> StickerRequest:
    return StickerRequest(platform="web", user_id="u1", conversation_id="lobby", server_id="lobby", text=text)


async def test_a_bot_started_before_the_cluster_has_the_app_answers_one_line_and_recovers(
    tight_configs: tuple[ModelConfig, EngineConfig], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model, engine_cfg = tight_configs
    config = with_storage_under(AppConfig(model=model, engine=engine_cfg, limits=GENEROUS_LIMITS), tmp_path)
    module = FakeAdapterModule()
    app = App(config, adapter_modules={"web": module})
    caplog.set_level(logging.WARNING, logger="generator.serve.client")
    await app.start()  # the bot starts although no generator can be reached
    try:
        assert app.service is not None and isinstance(app.engine, RayEngine)
        adapter = module.created[0]
        health = app.service.health()
        assert not health.ready and health.problem is not None
        reply = await adapter.ask(ask("eating otter"))
        assert reply.error is not None
        assert reply.error.message == "Sticker generation is unavailable right now. Please try again later."
        await asyncio.sleep(2.5)  # a few reconnection attempts: still one line in the log
        unavailable = [r for r in caplog.records if "generation is unavailable" in r.getMessage()]
        assert len(unavailable) == 1 and "\n" not in unavailable[0].getMessage()

        await asyncio.to_thread(deploy, model, engine_cfg)
        await app.engine.wait_connected(60)  # reconnected with backoff, no restart
        assert app.service.health().ready
        adapter.reply_timeout_s = 120.0
        reply = await adapter.ask(ask("eating otter seed:4"))
        assert reply.ok, reply.error
        assert reply.stickers and reply.stickers[0].data[:4] == b"RIFF"
    finally:
        await app.stop()


async def test_a_full_queue_answers_busy_at_once(tight_configs: tuple[ModelConfig, EngineConfig]) -> None:
    model, engine_cfg = tight_configs
    await asyncio.to_thread(deploy, model, engine_cfg)
    engine = RayEngine(model, engine_cfg)
    await engine.start()
    await engine.wait_connected(60)
    finished: list[str] = []

    async def one(i: int) -> GenerationResult | Overloaded:
        try:
            result = await engine.generate(
                GenerationRequest(prompt=f"queue {i}", style="otter", seed=i, count=4)
            )
        except Overloaded as busy:
            finished.append("busy")
            return busy
        finished.append("sticker")
        return result

    try:
        outcomes = await asyncio.gather(*(one(i) for i in range(6)))
        busy = [o for o in outcomes if isinstance(o, Overloaded)]
        assert busy and all(b.user_message.startswith("The sticker engine is busy") for b in busy)
        assert any(isinstance(o, GenerationResult) for o in outcomes)
        # "At once": every refusal came back before the first sticker was finished.
        assert finished[: len(busy)] == ["busy"] * len(busy), finished
    finally:
        await engine.close()


async def test_a_replica_without_a_motion_adapter_answers_the_local_line(
    tight_configs: tuple[ModelConfig, EngineConfig],
) -> None:
    """The tight app's model names the hub's adapter, which this offline machine does not have."""
    from generator.animation.diffusion import load_motion_adapter
    from generator.animation.errors import AnimationUnavailable

    model, engine_cfg = tight_configs
    with pytest.raises(AnimationUnavailable) as local:
        load_motion_adapter(model.motion_adapter, local_files_only=model.local_files_only)
    from ray import serve

    if engine_cfg.ray.app not in serve.status().applications:  # a second `serve.run` restarts replicas
        await asyncio.to_thread(deploy, model, engine_cfg)
    engine = RayEngine(model, engine_cfg)
    await engine.start()
    await engine.wait_connected(60)
    try:
        for _ in range(2):  # the missing adapter is remembered: the same line again
            with pytest.raises(AnimationUnavailable) as remote:
                await engine.animate(GenerationRequest(prompt="otter", style="otter", seed=1), ("gif",))
            assert remote.value.user_message == local.value.user_message
            assert "\n" not in remote.value.user_message
    finally:
        await engine.close()


UNREACHABLE_BOT = """
import asyncio, logging, socket, sys
from generator.api import GenerationRequest, EngineUnavailable
from generator.options import EngineConfig, ModelConfig, RayConfig
from generator.serve.client import RayEngine

logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(message)s")
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]  # closed again: nothing listens there
ray_cfg = RayConfig(address=f"127.0.0.1:{port}", reconnect_max_s=1.0)
engine = RayEngine(ModelConfig(), EngineConfig(backend="ray", ray=ray_cfg))

async def main():
    await engine.start()
    await asyncio.sleep(3)  # several reconnection attempts
    print("HEALTH", engine.health().ready, type(engine.health().error).__name__)
    try:
        await engine.generate(GenerationRequest(prompt="otter", style="otter", seed=1))
    except EngineUnavailable as exc:
        print("ANSWER", exc.user_message)
    await engine.close()

asyncio.run(main())
"""


def test_a_cluster_address_that_does_not_answer_is_one_line_and_the_bot_keeps_going(tmp_path: Path) -> None:
    """In a fresh process (this one already holds the test cluster): no Ray flood, no traceback."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "RAY_AUTH_MODE": "disabled"}
    done = subprocess.run(
        [sys.executable, "-c", UNREACHABLE_BOT],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    warnings = [line for line in lines if line.startswith("generation is unavailable")]
    assert len(warnings) == 1 and "nothing answers at 127.0.0.1:" in warnings[0]
    assert "HEALTH False EngineUnavailable" in lines
    assert "ANSWER Sticker generation is unavailable right now. Please try again later." in lines
    assert "Traceback" not in done.stderr and "Failed to connect to GCS" not in done.stderr
