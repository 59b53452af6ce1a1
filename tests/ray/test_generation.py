"""Generation through Ray Serve on the tiny model: same bytes as the local engine, multiplexed styles,
batches, and a replica killed during a burst."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.config import AppConfig
from bot.types import StickerRequest
from generator.api import GenerationRequest, GenerationResult, GeneratorError
from generator.engine import build_engine
from generator.options import EngineConfig, ModelConfig
from generator.serve.client import RayEngine
from tests.fakes.service_factory import GENEROUS_LIMITS, make_service

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.timeout(600),
]  # the shared session setup can be slow

Configs = tuple[ModelConfig, EngineConfig]


async def connected(model: ModelConfig, engine_cfg: EngineConfig) -> RayEngine:
    engine = RayEngine(model, engine_cfg)
    await engine.start()
    await engine.wait_connected(180)  # a loaded 2-core box can take minutes to bring the app up
    return engine


async def replica_status(engine: RayEngine):  # type: ignore[no-untyped-def]
    return await engine._handle.status.remote()


async def test_a_sticker_through_ray_is_byte_identical_to_the_local_engine(
    main_app: Configs, tmp_path: Path
) -> None:
    model, engine_cfg = main_app
    config = AppConfig(model=model, engine=engine_cfg, limits=GENEROUS_LIMITS)
    request = StickerRequest(
        platform="web", user_id="u1", conversation_id="c1", server_id="s1", text="eating seed:7"
    )

    remote = await make_service(tmp_path / "ray", await connected(model, engine_cfg), config)
    try:
        assert {s.name for s in remote.styles()} == {"otter", "lora-a", "lora-b"}  # from the cluster
        via_ray = await remote.handle(request)
    finally:
        await remote.close()
    local_cfg = engine_cfg.model_copy(update={"backend": "local", "max_wait_ms": 0.0})
    local = await make_service(
        tmp_path / "local", build_engine(model, local_cfg), config.model_copy(update={"engine": local_cfg})
    )
    try:
        via_local = await local.handle(request)
    finally:
        await local.close()

    assert via_ray.error is None and via_local.error is None, (via_ray.error, via_local.error)
    assert [f.data for f in via_ray.stickers] == [f.data for f in via_local.stickers]
    assert via_ray.stickers and via_ray.stickers[0].data[:4] == b"RIFF"


async def test_two_styles_share_a_replica_and_a_third_evicts_the_least_recently_used(
    main_app: Configs,
) -> None:
    model, engine_cfg = main_app
    engine = await connected(model, engine_cfg)
    try:
        for style in ("lora-a", "lora-b", "lora-a"):
            await engine.generate(GenerationRequest(prompt="otter", style=style, seed=1))
        status = await replica_status(engine)
        assert set(status.hot_styles) == {"lora-a", "lora-b"}  # both on the one replica
        assert status.hot_styles[-1] == "lora-a"  # used last
        await engine.generate(GenerationRequest(prompt="otter", style="otter", seed=1))
        status = await replica_status(engine)
        assert status.hot_styles == ("lora-a", "otter")  # lora-b was the least recently used
    finally:
        await engine.close()


async def test_eight_concurrent_requests_reach_the_pipeline_in_batches(main_app: Configs) -> None:
    model, engine_cfg = main_app
    engine = await connected(model, engine_cfg)
    try:
        before = len((await replica_status(engine)).stats.batch_sizes)
        results = await asyncio.gather(
            *(
                engine.generate(GenerationRequest(prompt=f"otter {i}", style="otter", seed=i))
                for i in range(8)
            )
        )
        assert all(isinstance(r, GenerationResult) and len(r.stickers) == 1 for r in results)
        sizes = list((await replica_status(engine)).stats.batch_sizes)[before:]
        assert sum(sizes) == 8 and max(sizes) > 1, sizes
        assert max(r.timings_ms["batch_images"] for r in results) > 1
    finally:
        await engine.close()


async def test_killing_the_replica_during_a_burst_loses_no_request_and_serve_brings_one_back(
    main_app: Configs,
) -> None:
    """Runs last in this module: the replica the other tests share is replaced here."""
    import ray
    from ray import serve

    model, engine_cfg = main_app
    engine = await connected(model, engine_cfg)
    try:
        victim = (await replica_status(engine)).actor_name
        burst = [
            asyncio.ensure_future(
                engine.generate(GenerationRequest(prompt=f"burst {i}", style="otter", seed=i, count=2))
            )
            for i in range(8)
        ]
        await asyncio.sleep(0.3)  # the first batch is being drawn
        ray.kill(ray.get_actor(victim, namespace="serve"), no_restart=True)
        outcomes = await asyncio.gather(*burst, return_exceptions=True)
        for outcome in outcomes:  # a sticker, or one of the short answers users get
            assert isinstance(outcome, GenerationResult | GeneratorError), repr(outcome)
            if isinstance(outcome, GenerationResult):
                assert len(outcome.stickers) == 2
        assert any(isinstance(o, GenerationResult) for o in outcomes)
        assert engine.retries >= 1  # the kill hit requests in flight, which were sent again

        async with asyncio.timeout(90):  # Serve starts a new replica
            while True:
                app = serve.status().applications[engine_cfg.ray.app]
                if app.status == "RUNNING":
                    try:
                        status = await replica_status(engine)
                    except Exception:
                        status = None
                    if status is not None and status.actor_name != victim:
                        break
                await asyncio.sleep(0.5)
        after = await engine.generate(GenerationRequest(prompt="after", style="otter", seed=3))
        assert len(after.stickers) == 1
    finally:
        await engine.close()
