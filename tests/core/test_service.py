"""The service end to end through a fake adapter, with the FakeEngine (edge cases) and both databases."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot import messages
from bot.config import AppConfig, LimitsConfig, StorageConfig
from bot.safety import SafetyVerdict
from bot.service import StickerService
from bot.types import (
    ErrorKind,
    RequestKind,
    Scope,
    ServiceError,
    ServiceHealth,
    StickerFormat,
    StickerRequest,
    StickerServiceAPI,
)
from generator import api
from generator.api import GenerationRequest, GenerationResult, PositionCallback
from generator.options import ModelConfig
from tests.core.fake_adapter import FakeAdapter
from tests.fakes.fake_engine import FAKE_STYLES, FakeEngine
from tests.fakes.service_factory import GENEROUS_LIMITS, make_service


def req(
    text: str = "eating otter", *, user: str = "u1", server: str | None = "s1", **kw: object
) -> StickerRequest:
    return StickerRequest(
        platform="web", user_id=user, conversation_id="c1", server_id=server, text=text, **kw
    )


def webp_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "WEBP"
        assert im.mode == "RGBA"
        return im.size


async def test_implements_the_adapter_facing_protocol(service: StickerService) -> None:
    assert StickerServiceAPI in type(service).__mro__
    assert service.database is not None
    assert [s.name for s in service.styles()] == ["otter", "rabbit"]


async def test_command_end_to_end(adapter: FakeAdapter, fake_engine: FakeEngine) -> None:
    reply = await adapter.ask(req("eating otter seed:42"))
    assert reply.ok, reply.error
    assert reply.prompt == "eating, otter, dm-sticker"
    assert reply.style == "otter" and reply.seed == 42
    assert reply.emoji == "😋"
    assert not reply.cached
    (sticker,) = reply.stickers
    assert sticker.format == StickerFormat.WEBP and sticker.seed == 42
    assert webp_size(sticker.data) == (512, 512) == (sticker.width, sticker.height)
    (job,) = fake_engine.ran
    assert job.prompt == "eating, otter, dm-sticker" and job.seed == 42 and job.count == 1
    assert job.negative_prompt is None  # ignored at guidance 0, so not sent (nor part of the cache key)
    assert job.request_id == reply.request.request_id


async def test_options_as_fields_and_in_text(adapter: FakeAdapter, fake_engine: FakeEngine) -> None:
    reply = await adapter.ask(req("sad style:rabbit n:3 seed:5"))
    assert reply.ok and reply.prompt == "sad, rabbit, dm-sticker"
    assert [s.seed for s in reply.stickers] == [5, 6, 7]
    reply = await adapter.ask(req("sad", style="rabbit", count=2, seed=9))
    assert [s.seed for s in reply.stickers] == [9, 10] and reply.style == "rabbit"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", ErrorKind.EMPTY_PROMPT),
        ("   ", ErrorKind.EMPTY_PROMPT),
        ("seed:4", ErrorKind.EMPTY_PROMPT),
        ("a" * 301, ErrorKind.PROMPT_TOO_LONG),
        ("sad\x07", ErrorKind.INVALID),
        ("sad n:9", ErrorKind.INVALID),
        ("sad style:nope", ErrorKind.UNKNOWN_STYLE),
        ("s e x y otter", ErrorKind.UNSAFE),
    ],
)
async def test_bad_input_gets_a_short_answer(
    adapter: FakeAdapter, fake_engine: FakeEngine, text: str, kind: ErrorKind
) -> None:
    reply = await adapter.ask(req(text))
    assert reply.error is not None and reply.error.kind == kind
    assert 0 < len(reply.error.message) <= 120 and "Traceback" not in reply.error.message
    assert fake_engine.ran == []


async def test_typed_emoji_become_the_expression(adapter: FakeAdapter) -> None:
    reply = await adapter.ask(req("😭 rabbit"))
    assert reply.ok and reply.prompt == "crying loudly, rabbit, dm-sticker" and reply.emoji == "😭"
    record = await adapter.service.record(reply.record_id or "")
    assert record is not None and record.text == "😭 rabbit"


async def test_unknown_style_lists_the_styles(adapter: FakeAdapter) -> None:
    reply = await adapter.ask(req("sad", style="../../etc"))
    assert reply.error is not None and "otter" in reply.error.message and "rabbit" in reply.error.message


async def test_style_resolution_order(service: StickerService, adapter: FakeAdapter) -> None:
    server = Scope("web", "s1")
    channel = Scope("web", "s1", "c1")
    assert await service.default_style(channel) == "otter"  # engine.default_style
    assert "server" in await service.set_default_style(server, "rabbit", is_admin=True)
    assert (await adapter.ask(req("sad"))).style == "rabbit"
    assert "channel" in await service.set_default_style(channel, "otter", is_admin=True)
    assert (await adapter.ask(req("sad"))).style == "otter"  # conversation beats server
    assert (await adapter.ask(req("sad", style="rabbit"))).style == "rabbit"  # explicit beats all
    assert (await adapter.ask(req("sad", server="s2"))).style == "otter"  # other servers unaffected


async def test_only_admins_change_defaults(service: StickerService) -> None:
    scope = Scope("discord", "g1")
    with pytest.raises(ServiceError) as info:
        await service.set_default_style(scope, "rabbit", is_admin=False)
    assert info.value.error.kind == ErrorKind.FORBIDDEN
    with pytest.raises(ServiceError) as info:
        await service.set_default_style(scope, "unicorn", is_admin=True)
    assert info.value.error.kind == ErrorKind.UNKNOWN_STYLE and "rabbit" in info.value.error.message
    with pytest.raises(ServiceError) as info:
        await service.set_option(scope, "outline", "off", is_admin=False)
    assert info.value.error.kind == ErrorKind.FORBIDDEN
    assert await service.default_style(scope) == "otter"


async def test_options_validated_and_applied(
    service: StickerService, adapter: FakeAdapter, fake_engine: FakeEngine
) -> None:
    scope = Scope("web", "s1")
    with pytest.raises(ServiceError) as info:
        await service.set_option(scope, "outline", "purple", is_admin=True)
    assert info.value.error.kind == ErrorKind.INVALID
    with pytest.raises(ServiceError):
        await service.set_option(scope, "no_such_key", "1", is_admin=True)
    await service.set_option(scope, "outline", "OFF", is_admin=True)
    await service.set_option(scope, "count", "2", is_admin=True)
    await service.set_option(scope, "web.theme", "dark", is_admin=True)
    await service.set_option(scope, "default_style", "rabbit", is_admin=True)
    assert await service.get_option(scope, "web.theme") == "dark"
    assert await service.get_option(scope, "missing", "fallback") == "fallback"
    reply = await adapter.ask(req("sad"))
    assert len(reply.stickers) == 2 and reply.style == "rabbit"
    assert fake_engine.ran[-1].outline is False


async def test_reaction_uses_the_servers_character(service: StickerService, adapter: FakeAdapter) -> None:
    await service.set_default_style(Scope("web", "s1"), "rabbit", is_admin=True)
    assert service.expression_for("👍🏽") == "thumbs up"
    assert service.expression_for("🦄") is None
    reply = await adapter.ask(req("", kind=RequestKind.REACTION, emoji="😂"))
    assert reply.ok and reply.prompt == "laughing, rabbit, dm-sticker" and reply.emoji == "😂"
    reply = await adapter.ask(req("", kind=RequestKind.REACTION, emoji="🦄"))
    assert reply.error is not None and reply.error.kind == ErrorKind.INVALID
    await service.set_option(Scope("web", "s1"), "reactions", "off", is_admin=True)
    reply = await adapter.ask(req("", kind=RequestKind.REACTION, emoji="😂"))
    assert reply.error is not None and reply.error.kind == ErrorKind.FORBIDDEN


async def test_reroll_and_variations(
    service: StickerService, adapter: FakeAdapter, fake_engine: FakeEngine
) -> None:
    first = await adapter.ask(req("angry cat style:rabbit seed:3"))
    assert first.record_id is not None and len(first.record_id) <= 16
    assert first.record_id.replace("-", "").replace("_", "").isalnum()
    reroll = await adapter.ask(req("", kind=RequestKind.REROLL, parent_id=first.record_id))
    assert reroll.ok and reroll.prompt == first.prompt and reroll.style == "rabbit"
    assert reroll.seed != 3 and reroll.record_id != first.record_id
    more = await adapter.ask(req("", kind=RequestKind.VARIATIONS, parent_id=first.record_id))
    assert len(more.stickers) == 4 and len({s.seed for s in more.stickers}) == 4
    restyled = await adapter.ask(req("", kind=RequestKind.REROLL, parent_id=first.record_id, style="otter"))
    assert restyled.prompt == "angry, cat, dm-sticker" and restyled.style == "otter"
    gone = await adapter.ask(req("", kind=RequestKind.REROLL, parent_id="nope"))
    assert gone.error is not None and gone.error.kind == ErrorKind.NOT_FOUND
    missing = await adapter.ask(req("", kind=RequestKind.REROLL))
    assert missing.error is not None and missing.error.kind == ErrorKind.INVALID


async def test_records_and_files(service: StickerService, adapter: FakeAdapter) -> None:
    reply = await adapter.ask(req("waving otter n:2"))
    record = await service.record(reply.record_id or "")
    assert record is not None
    assert (record.text, record.prompt, record.style, record.count) == (
        "waving otter",
        reply.prompt,
        "otter",
        2,
    )
    assert record.seed == reply.seed and record.emoji == reply.emoji == "👋"
    assert record.sticker_hashes == tuple(s.sha256 for s in reply.stickers)
    assert await service.sticker_file(record.sticker_hashes[0]) == reply.stickers[0].data
    assert await service.sticker_file("../" * 10 + "etc/passwd") is None
    assert await service.sticker_file("0" * 64) is None
    assert await service.record("../../x") is None


async def test_cache_hits_skip_the_engine(adapter: FakeAdapter, fake_engine: FakeEngine) -> None:
    first = await adapter.ask(req("sleepy otter seed:11 n:2"))
    second = await adapter.ask(req("sleepy otter seed:11 n:2"))
    assert second.cached and not first.cached
    assert [s.data for s in second.stickers] == [s.data for s in first.stickers]
    assert len(fake_engine.ran) == 1
    third = await adapter.ask(req("sleepy otter seed:12 n:2"))  # another seed generates
    assert not third.cached and len(fake_engine.ran) == 2


async def test_discord_png_format(adapter: FakeAdapter) -> None:
    reply = await adapter.ask(
        req("happy otter seed:1", formats=frozenset({StickerFormat.WEBP, StickerFormat.DISCORD_PNG}))
    )
    assert reply.ok, reply.error
    assert [f.format for f in reply.stickers] == [StickerFormat.WEBP, StickerFormat.DISCORD_PNG]
    png = reply.stickers[1]
    with Image.open(io.BytesIO(png.data)) as im:
        assert im.format == "PNG" and im.size == (320, 320) == (png.width, png.height)
    assert len(png.data) <= 512 * 1024
    again = await adapter.ask(req("happy otter seed:1", formats=frozenset({StickerFormat.DISCORD_PNG})))
    assert again.cached and [f.data for f in again.stickers] == [png.data]


async def test_engine_errors_become_user_errors(adapter: FakeAdapter, fake_engine: FakeEngine) -> None:
    fake_engine.fail_next = 1
    reply = await adapter.ask(req("sad"))
    assert reply.error is not None and reply.error.kind == ErrorKind.FAILED
    fake_engine.queue_size = 0
    reply = await adapter.ask(req("happy"))
    assert reply.error is not None and reply.error.kind == ErrorKind.OVERLOADED


class ExplodingEngine(FakeEngine):
    async def generate(
        self, request: GenerationRequest, on_position: PositionCallback | None = None
    ) -> GenerationResult:
        raise ZeroDivisionError("bug in the engine")


async def test_unexpected_errors_are_logged_with_the_request_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service = await make_service(tmp_path, ExplodingEngine())
    try:
        with caplog.at_level(logging.ERROR, logger="bot.service"):
            reply = await service.handle(req("sad", request_id="req-abc"))
        assert reply.error is not None and reply.error.kind == ErrorKind.FAILED
        assert "ZeroDivision" not in reply.error.message
        record = next(r for r in caplog.records if r.levelno == logging.ERROR)
        assert record.exc_info is not None
        assert record.request_id == "req-abc"  # type: ignore[attr-defined]
    finally:
        await service.close()


async def test_user_rate_limit_says_slow_down(tmp_path: Path) -> None:
    config = AppConfig(
        limits=LimitsConfig(user_per_minute=1, user_burst=2, server_per_minute=100, server_burst=100)
    )
    service = await make_service(tmp_path, config=config)
    try:
        replies = [await service.handle(req(f"sad {i}")) for i in range(3)]
        assert [r.ok for r in replies] == [True, True, False]
        error = replies[2].error
        assert (
            error is not None
            and error.kind == ErrorKind.RATE_LIMITED
            and "slow down" in error.message.lower()
        )
        assert (await service.handle(req("sad", user="u2"))).ok  # other users are unaffected
    finally:
        await service.close()


async def test_server_rate_limit(tmp_path: Path) -> None:
    config = AppConfig(
        limits=LimitsConfig(user_per_minute=100, user_burst=100, server_per_minute=1, server_burst=2)
    )
    service = await make_service(tmp_path, config=config)
    try:
        replies = [await service.handle(req("sad", user=f"u{i}")) for i in range(3)]
        assert [r.ok for r in replies] == [True, True, False]
        assert (await service.handle(req("sad", server="s2"))).ok
    finally:
        await service.close()


class GatedEngine(FakeEngine):
    """Holds every job until `gate` opens, so tests can line requests up deterministically."""

    def __init__(self, **kw: float) -> None:
        super().__init__(max_batch=1, **kw)
        self.gate = asyncio.Event()

    async def generate(
        self, request: GenerationRequest, on_position: PositionCallback | None = None
    ) -> GenerationResult:
        await self.gate.wait()
        return await super().generate(request, on_position)


async def wait_until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(30):
        while not condition():  # noqa: ASYNC110 (polling service state that has no event)
            await asyncio.sleep(0.001)


async def test_burst_from_one_server_does_not_starve_another(tmp_path: Path) -> None:
    engine = GatedEngine()
    limits = LimitsConfig(**{**GENEROUS_LIMITS.__dict__, "max_in_flight": 1})
    service = await make_service(tmp_path, engine, AppConfig(limits=limits))
    adapter = FakeAdapter(service)
    try:
        busy = [req(f"busy {i}", server="busy") for i in range(8)]
        for r in busy:
            adapter.push(r)
        await wait_until(lambda: service.admission.waiting == 7)
        quiet = req("quiet one", server="quiet")
        adapter.push(quiet)
        await wait_until(lambda: service.admission.waiting == 8)
        engine.gate.set()
        await asyncio.gather(*adapter.tasks)
        finished = [job.prompt for job in engine.ran]
        assert finished.index("quiet one, otter, dm-sticker") == 2  # after busy 0 and 1, not after all 8
        # the quiet server's request goes second in line, ahead of busy 2..7
        assert adapter.positions[quiet.request_id][0] == 2
        assert adapter.positions[busy[-1].request_id][:2] == [7, 8]  # pushed back one place by it
        for positions in adapter.positions.values():
            assert positions[-1] == 0  # every request was told when it started
            after_quiet_arrived = positions[1:-1]
            assert after_quiet_arrived == sorted(after_quiet_arrived, reverse=True)  # only moves forward
    finally:
        await service.close()


async def test_overload_when_too_many_wait(tmp_path: Path) -> None:
    engine = GatedEngine()
    limits = LimitsConfig(**{**GENEROUS_LIMITS.__dict__, "max_in_flight": 1, "max_waiting": 2})
    service = await make_service(tmp_path, engine, AppConfig(limits=limits))
    adapter = FakeAdapter(service)
    try:
        for i in range(3):
            adapter.push(req(f"sad {i}"))
        await wait_until(lambda: service.admission.waiting == 2)
        late = [await service.handle(req(f"late {i}")) for i in range(2)]
        assert [r.error.kind if r.error else None for r in late] == [ErrorKind.OVERLOADED] * 2
        engine.gate.set()
        replies = [await adapter.pop() for _ in range(3)]
        assert all(r.ok for r in replies)
    finally:
        await service.close()


class RefuseAll:
    async def check(self, text: str) -> SafetyVerdict:
        return SafetyVerdict(False, reason="classifier says no", message="Not that one, sorry.")


async def test_pluggable_safety_filter(tmp_path: Path, fake_engine: FakeEngine) -> None:
    config = AppConfig(limits=GENEROUS_LIMITS)
    config.storage = StorageConfig(url=f"sqlite:///{tmp_path}/db.sqlite", cache_dir=str(tmp_path / "cache"))
    service = await StickerService.create(config, fake_engine, safety=RefuseAll())
    try:
        reply = await service.handle(req("eating otter"))
        assert reply.error is not None and reply.error.message == "Not that one, sorry."
    finally:
        await service.close()


async def test_shutdown_refuses_new_requests(service: StickerService) -> None:
    service.begin_shutdown()
    reply = await service.handle(req("sad"))
    assert reply.error is not None and reply.error.kind == ErrorKind.SHUTTING_DOWN


async def test_settings_and_records_persist_across_restart(tmp_path: Path, db_url: str) -> None:
    config = AppConfig(
        limits=GENEROUS_LIMITS, storage=StorageConfig(url=db_url, cache_dir=str(tmp_path / "cache"))
    )
    service = await make_service(tmp_path, config=config)
    await service.set_default_style(Scope("telegram", "-100"), "rabbit", is_admin=True)
    reply = await service.handle(StickerRequest("telegram", "7", "-100", "-100", text="sad seed:8"))
    await service.close()

    engine = FakeEngine()
    service = await make_service(tmp_path, engine, config)
    try:
        assert await service.default_style(Scope("telegram", "-100")) == "rabbit"
        record = await service.record(reply.record_id or "")
        assert record is not None and record.style == "rabbit" and record.seed == 8
        again = await service.handle(StickerRequest("telegram", "7", "-100", "-100", text="sad seed:8"))
        assert again.cached and engine.ran == []
    finally:
        await service.close()


async def test_metrics_count_requests_and_errors(adapter: FakeAdapter, service: StickerService) -> None:
    await adapter.ask(req("sad seed:1"))
    await adapter.ask(req("sad seed:1"))
    await adapter.ask(req(""))
    text = service.metrics.render().decode()
    assert 'stickerbot_requests_total{kind="command",platform="web"} 3.0' in text
    assert "stickerbot_cache_hits_total 1.0" in text
    assert 'stickerbot_errors_total{kind="empty_prompt"} 1.0' in text
    assert "stickerbot_request_seconds_bucket" in text
    assert "stickerbot_queue_length 0.0" in text


async def test_removed_style_falls_back_a_level(service: StickerService) -> None:
    server, channel = Scope("web", "s1"), Scope("web", "s1", "c1")
    await service.set_default_style(server, "rabbit", is_admin=True)
    await service.settings.set(channel, "default_style", "retired-style")  # a style file was removed
    assert await service.default_style(channel) == "rabbit"


async def test_database_outage_degrades_gracefully(service: StickerService, adapter: FakeAdapter) -> None:
    await service.database.close()
    scope = Scope("web", "s1")
    assert await service.default_style(scope) == "otter"
    assert await service.get_option(scope, "count", "1") == "1"
    with pytest.raises(ServiceError) as info:
        await service.set_default_style(scope, "rabbit", is_admin=True)
    assert info.value.error.kind == ErrorKind.FAILED
    reply = await adapter.ask(req("sad"))  # the stickers still come; only the buttons lose their record
    assert reply.ok and len(reply.stickers) == 1 and reply.record_id is None
    reroll = await adapter.ask(req("", kind=RequestKind.REROLL, parent_id="abcdefgh"))
    assert reroll.error is not None and reroll.error.kind == ErrorKind.FAILED


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (api.InvalidRequest("Bad size."), ErrorKind.INVALID),
        (api.UnknownStyle("No such style."), ErrorKind.UNKNOWN_STYLE),
        (api.Overloaded("Busy."), ErrorKind.OVERLOADED),
        (api.GenerationTimeout("Took too long."), ErrorKind.TIMEOUT),
        (api.EngineClosed("Shutting down."), ErrorKind.SHUTTING_DOWN),
        (api.GenerationFailed("It broke."), ErrorKind.FAILED),
        (api.StyleError("Broken style file."), ErrorKind.FAILED),
    ],
)
async def test_every_engine_error_maps_to_a_user_error(
    tmp_path: Path, error: Exception, kind: ErrorKind
) -> None:
    class FailingEngine(FakeEngine):
        async def generate(
            self, request: GenerationRequest, on_position: PositionCallback | None = None
        ) -> GenerationResult:
            raise error

    service = await make_service(tmp_path, FailingEngine())
    try:
        reply = await service.handle(req("sad"))
        assert reply.error is not None and reply.error.kind == kind
        assert reply.error.message == error.user_message  # type: ignore[attr-defined]
    finally:
        await service.close()


_HUB_MISSING = api.ModelMissing(
    "Model stabilityai/sdxl-turbo is not in the Hugging Face cache and the hub cannot be reached; download "
    "it with `hf download stabilityai/sdxl-turbo` or point model.path (or --model) at a local "
    "directory.",
    detail="OSError: not cached",
)


class _NoModelEngine(FakeEngine):
    """An engine whose model failed to load, as `generator.engine.Engine` reports it."""

    def __init__(self, error: api.GeneratorError) -> None:
        super().__init__()
        self.load_error = error

    async def generate(
        self, request: GenerationRequest, on_position: PositionCallback | None = None
    ) -> GenerationResult:
        raise self.load_error


@pytest.mark.parametrize(
    ("model_config", "error", "named"),
    [
        (ModelConfig(), _HUB_MISSING, "stabilityai/sdxl-turbo"),
        (
            ModelConfig(path="/srv/models/turbo"),
            api.ModelMissing("Model directory /srv/models/turbo does not exist; set model.path."),
            "/srv/models/turbo",
        ),
        (
            ModelConfig(tiny_vae="madebyollin/taesdxl"),
            api.ModelMissing("Tiny autoencoder madebyollin/taesdxl (model.tiny_vae) could not be loaded."),
            "madebyollin/taesdxl",
        ),
    ],
)
async def test_a_missing_model_is_one_sentence_naming_the_model_and_the_fix(
    tmp_path: Path, model_config: ModelConfig, error: api.ModelMissing, named: str
) -> None:
    config = AppConfig(limits=GENEROUS_LIMITS, model=model_config)
    service = await make_service(tmp_path, _NoModelEngine(error), config=config)
    try:
        reply = await service.handle(req("eating otter"))
        assert reply.error is not None and reply.error.kind == ErrorKind.MODEL_MISSING
        text = reply.error.message
        assert text == messages.model_missing(named)
        assert named in text and "operator" in text and "model.path" in text
        assert "huggingface-cli" not in text and "OSError" not in text  # operator detail stays in the log
        assert text.count(". ") == 0 and text.endswith(".")  # one sentence
        health = service.health()
        assert not health.ready and health.problem == reply.error
    finally:
        await service.close()


async def test_health_is_ready_with_a_working_engine(service: StickerService) -> None:
    assert service.health() == ServiceHealth(ready=True, problem=None)


async def test_health_follows_the_real_engine_loading(tmp_path: Path) -> None:
    """`Engine.health()` reports the loading failure, which the service's `health()` reads."""
    from generator.engine import Engine

    def no_model() -> Any:
        raise _HUB_MISSING

    engine = Engine(no_model, FAKE_STYLES, warmup=False)
    service = await make_service(tmp_path, engine)
    try:
        with pytest.raises(api.ModelMissing):
            await engine.wait_ready()
        health = service.health()
        assert not health.ready and health.problem is not None
        assert health.problem.message == messages.model_missing("stabilityai/sdxl-turbo")
    finally:
        await service.close()


async def test_housekeeping_forgets_old_records(service: StickerService, adapter: FakeAdapter) -> None:
    old = await adapter.ask(req("sad seed:1"))
    await service.database.execute(
        "UPDATE core_records SET created_at = created_at - ? WHERE record_id = ?", (31 * 86400, old.record_id)
    )
    await service.database.execute("UPDATE core_result_index SET created_at = created_at - ?", (31 * 86400,))
    new = await adapter.ask(req("happy seed:2"))
    await service.housekeeping()
    assert await service.record(old.record_id or "") is None
    assert await service.record(new.record_id or "") is not None
    assert not (await adapter.ask(req("sad seed:1"))).cached  # its index entry went too
    assert (await adapter.ask(req("happy seed:2"))).cached
