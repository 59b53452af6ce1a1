"""Video-diffusion animations asked in chat (`anim:diffusion`): through the engine's `animate`, cached,
weighted for rate limits (`limits.diffusion_animation_weight`), one line without a motion adapter; and
the real engine on the tiny SDXL model with the tiny motion adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import App
from bot.cli import main
from bot.config import AppConfig, LimitsConfig
from bot.types import ErrorKind, RequestKind, StickerFormat, StickerRequest
from generator.animation.encode import check_telegram_webm, decode_image_frames
from tests.core.fake_adapter import FakeAdapterModule
from tests.core.test_real_engine import tiny_config, tiny_styles  # noqa: F401 (a fixture)
from tests.fakes.fake_engine import FakeEngine
from tests.fakes.service_factory import make_service


def req(text: str, platform: str = "telegram", **kw: object) -> StickerRequest:
    return StickerRequest(
        platform=platform, user_id="u1", conversation_id="c1", server_id="s1", text=text, **kw
    )


async def test_diffusion_in_chat_runs_on_the_engine_and_is_cached(tmp_path: Path, fake_engine: FakeEngine):
    service = await make_service(tmp_path, fake_engine)
    try:
        reply = await service.handle(req("waving otter anim:diffusion seed:7"))
        assert reply.ok, reply.error
        assert reply.motion == "diffusion"
        (sticker,) = reply.stickers
        assert sticker.format == StickerFormat.WEBM and sticker.seed == 7
        check_telegram_webm(sticker.data)
        assert [(r.seed, r.count) for r in fake_engine.animated] == [(7, 1)]
        again = await service.handle(req("waving otter anim:diffusion seed:7"))
        assert again.stickers[0].sha256 == sticker.sha256 and len(fake_engine.animated) == 1
        web = await service.handle(req("waving otter anim:diffusion seed:7", "web"))
        frames, _ = decode_image_frames(web.stickers[0].data, "webp")
        assert web.stickers[0].format == StickerFormat.WEBP_ANIMATED and len(frames) > 1
        assert len(fake_engine.animated) == 2  # a format not cached yet is a new clip
        # 🎬 on a sticker animates those exact bytes: diffusion there gets the expression's preset
        button = await service.handle(
            req("", kind=RequestKind.ANIMATE, parent_id=reply.record_id, animate="diffusion")
        )
        assert button.ok and button.motion == "wave" and len(fake_engine.animated) == 2
    finally:
        await service.close()


async def test_without_a_motion_adapter_one_line_and_presets_still_work(
    tmp_path: Path, fake_engine: FakeEngine
):
    fake_engine.animations = False
    service = await make_service(tmp_path, fake_engine)
    try:
        reply = await service.handle(req("otter anim:diffusion"))
        assert reply.error is not None
        assert "motion presets still work" in reply.error.message or "motion_adapter" in reply.error.message
        assert "\n" not in reply.error.message
        preset = await service.handle(req("otter anim:bounce"))
        assert preset.ok and preset.motion == "bounce"
    finally:
        await service.close()


async def test_a_diffusion_animation_costs_its_weight(tmp_path: Path, fake_engine: FakeEngine):
    limits = LimitsConfig(user_per_minute=1, server_per_minute=100, user_burst=5, server_burst=100)
    assert limits.diffusion_animation_weight == 4
    service = await make_service(tmp_path, fake_engine, AppConfig(limits=limits))
    try:
        assert (await service.handle(req("otter anim:diffusion"))).ok  # 4 of the 5 tokens
        assert (await service.handle(req("otter anim:bounce"))).ok  # a preset counts as one
        third = await service.handle(req("otter"))
        assert third.error is not None and third.error.kind == ErrorKind.RATE_LIMITED
    finally:
        await service.close()


async def _plain_requests_that_fit(service: object, limit: int = 6) -> int:
    for n in range(limit):
        reply = await service.handle(req(f"otter {n}"))  # type: ignore[attr-defined]
        if not reply.ok:
            assert reply.error is not None and reply.error.kind == ErrorKind.RATE_LIMITED
            return n
    return limit


async def test_a_refused_diffusion_animation_gives_its_extra_weight_back(
    tmp_path: Path, fake_engine: FakeEngine
):
    """No motion adapter: the clip is refused after the statics, so it costs one request, not four."""
    fake_engine.animations = False
    limits = LimitsConfig(user_per_minute=1, server_per_minute=100, user_burst=5, server_burst=100)
    service = await make_service(tmp_path, fake_engine, AppConfig(limits=limits))
    try:
        refused = await service.handle(req("otter anim:diffusion"))
        assert refused.error is not None and refused.error.kind != ErrorKind.RATE_LIMITED
        unknown = await service.handle(req("otter anim:diffusion", style="no-such-style"))
        assert unknown.error is not None and unknown.error.kind != ErrorKind.RATE_LIMITED
        assert await _plain_requests_that_fit(service) == 4  # 5 - 1; before the refund only 1 fit
    finally:
        await service.close()


async def test_a_diffusion_animation_past_the_deadline_gives_its_extra_weight_back(tmp_path: Path):
    engine = FakeEngine(delay_s=30.0)
    limits = LimitsConfig(
        user_per_minute=1, server_per_minute=100, user_burst=5, server_burst=100, request_deadline_s=3.0
    )
    service = await make_service(tmp_path, engine, AppConfig(limits=limits))
    try:
        late = await service.handle(req("otter anim:diffusion"))
        assert late.error is not None and late.error.kind == ErrorKind.TIMEOUT
        engine.delay_s = 0.0
        assert await _plain_requests_that_fit(service) == 4
    finally:
        await service.close()


@pytest.fixture(scope="module")
def tiny_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("tiny-motion") / "adapter"
    assert main(["dev", "tiny-motion-adapter", str(target)]) == 0
    return target


@pytest.mark.slow
async def test_real_engine_diffusion_in_chat(
    tmp_path: Path,
    tiny_model_dir: Path,
    tiny_styles: Path,  # noqa: F811
    tiny_adapter: Path,
):
    config = tiny_config(tmp_path, tiny_model_dir, tiny_styles)
    model = config.model.model_copy(update={"motion_adapter": str(tiny_adapter)})
    engine = config.engine.model_copy(update={"timeout_s": 300.0})  # a shared 2-core box can be slow
    app = App(
        config.model_copy(update={"model": model, "engine": engine}),
        adapter_modules={"web": FakeAdapterModule()},
    )
    await app.start()
    try:
        service = app.service
        assert service is not None
        reply = await service.handle(req("waving otter anim:diffusion seed:3"))
        assert reply.ok, reply.error
        check_telegram_webm(reply.stickers[0].data)
        static = await service.handle(req("waving otter seed:3"))  # the engine still draws stickers after
        assert static.ok and static.stickers[0].format == StickerFormat.WEBP
    finally:
        await app.stop()
