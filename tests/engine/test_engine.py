"""Scheduling edge cases of the async engine, driven by a counting fake pipeline.

The fake stands in for the SDXL pipeline only (the one thing that would take seconds); the
engine, its queue, threads and scheduler are the real ones. End-to-end runs with the real tiny
diffusers pipeline are in test_engine_tiny.py.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from PIL import Image

from generator.api import (
    EngineClosed,
    GenerationFailed,
    GenerationRequest,
    GenerationTimeout,
    InvalidRequest,
    ModelMissing,
    Overloaded,
    StickerEngine,
    StyleError,
    StyleSummary,
    UnknownStyle,
)
from generator.engine import Engine
from generator.options import EngineConfig
from generator.scheduling import BatchKey, choose_batch, mark_passed_over
from tests.contract import assert_implements
from tests.fakes.fake_engine import FakeEngine


def _style(name: str) -> StyleSummary:
    return StyleSummary(
        name=name,
        description=f"{name} stickers",
        template="{expression}, {subject}, {trigger}",
        subject=name,
        trigger="dm-sticker",
        negative_prompt="blurry",
        background=(255, 255, 255),
        outline=True,
        steps=1,
    )


STYLES = [_style("otter"), _style("rabbit"), _style("fox")]


@dataclass
class Call:
    style: str
    prompts: list[str]
    seeds: list[int]
    steps: int
    size: tuple[int, int]


@dataclass
class CountingPipeline:
    """Records every call; `gate` (when set) holds each run until the test releases it."""

    gate: threading.Event | None = None
    fail_prompts: set[str] = field(default_factory=set)
    broken_styles: set[str] = field(default_factory=set)
    unavailable: dict[str, StyleError] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    activations: list[str] = field(default_factory=list)
    active: str | None = None
    running: threading.Event = field(default_factory=threading.Event)

    def activate_style(self, name: str) -> float:
        if name in self.broken_styles:
            raise StyleError(f"Style '{name}' has a broken LoRA.")
        self.activations.append(name)
        self.active = name
        return 1.5

    def run(self, prompts, negative_prompts, seeds, steps, width, height):
        assert self.active is not None
        self.calls.append(Call(self.active, list(prompts), list(seeds), steps, (width, height)))
        self.running.set()
        if self.gate is not None:
            assert self.gate.wait(10), "test never released the pipeline"
        if self.fail_prompts & set(prompts):
            raise RuntimeError("CUDA error: an illegal memory access")
        return [Image.new("RGB", (width, height), (seed % 256, 0, 0)) for seed in seeds]

    def warmup(self) -> None:
        pass

    @property
    def images_run(self) -> list[str]:
        return [p for call in self.calls for p in call.prompts]


def plain_webp(image: Image.Image, style: StyleSummary, request: GenerationRequest) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGBA").save(buffer, "WEBP")
    return buffer.getvalue()


def make_engine(pipeline: CountingPipeline | Callable[[], CountingPipeline], **options) -> Engine:
    config = EngineConfig(**{"max_batch_size": 4, "max_wait_ms": 0.0, "queue_size": 8, **options})
    factory = (
        pipeline if callable(pipeline) and not isinstance(pipeline, CountingPipeline) else lambda: pipeline
    )
    return Engine(factory, STYLES, config, finisher=plain_webp)


def req(prompt: str = "eating otter", style: str = "otter", seed: int = 1, **kw) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, style=style, seed=seed, width=64, height=64, **kw)


async def until(condition: Callable[[], bool]) -> None:
    """Poll a condition that another thread (the pipeline worker) makes true; fails after 5 s."""
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 - the state changes in worker threads, not via events
            await asyncio.sleep(0.002)


@pytest.fixture
async def gated():
    """An engine whose pipeline blocks every call until `gate.set()`; closed (and released) afterwards."""
    pipeline = CountingPipeline(gate=threading.Event())
    engine = make_engine(pipeline)
    await engine.start()
    yield engine, pipeline
    pipeline.gate.set()
    await engine.close()


async def occupy(engine: Engine, pipeline: CountingPipeline) -> asyncio.Task:
    """Start one request and wait until the (gated) pipeline is busy with it."""
    task = asyncio.create_task(engine.generate(req("first", seed=100)))
    await until(pipeline.running.is_set)
    return task


def test_engine_implements_the_contract():
    assert isinstance(make_engine(CountingPipeline()), StickerEngine)
    # Not only the names: parameters, defaults, annotations and async-ness, for the engine and its fake.
    assert_implements(make_engine(CountingPipeline()), StickerEngine)
    assert_implements(FakeEngine(), StickerEngine)


def test_the_contract_check_catches_a_wrong_signature():
    class Sloppy(FakeEngine):
        def styles(self, scope: str = "") -> list[StyleSummary]:  # an extra parameter and another return
            return []

    assert isinstance(Sloppy(), StickerEngine)  # what the runtime check alone accepts
    with pytest.raises(AssertionError, match=r"Sloppy\.styles"):
        assert_implements(Sloppy(), StickerEngine)


async def test_generate_returns_one_sticker_per_seed():
    pipeline = CountingPipeline()
    engine = make_engine(pipeline)
    await engine.start()
    try:
        result = await engine.generate(req(count=3, seed=7))
    finally:
        await engine.close()
    assert [s.seed for s in result.stickers] == [7, 8, 9]
    assert pipeline.calls[0].seeds == [7, 8, 9]
    for sticker in result.stickers:
        assert Image.open(io.BytesIO(sticker.webp)).format == "WEBP"
    assert {"queue_ms", "generate_ms", "postprocess_ms", "total_ms"} <= set(result.timings_ms)


async def test_concurrent_requests_share_pipeline_calls(gated):
    engine, pipeline = gated
    first = await occupy(engine, pipeline)
    waiting = [asyncio.create_task(engine.generate(req(f"otter {i}", seed=i))) for i in range(7)]
    await until(lambda: engine.queue_length() == 7)
    pipeline.gate.set()
    results = await asyncio.gather(first, *waiting)
    assert len(results) == 8
    assert len(pipeline.calls) < 8
    assert max(len(call.prompts) for call in pipeline.calls) == 4
    for result, i in zip(results[1:], range(7), strict=True):
        assert result.stickers[0].seed == i


async def test_batches_never_mix_styles_or_sizes(gated):
    engine, pipeline = gated
    first = await occupy(engine, pipeline)
    requests = [
        req("a", "otter"),
        req("b", "rabbit"),
        req("c", "otter"),
        req("d", "fox"),
        req("e", "rabbit"),
        GenerationRequest(prompt="f", style="otter", seed=1, width=128, height=64),
    ]
    tasks = [asyncio.create_task(engine.generate(r)) for r in requests]
    await until(lambda: engine.queue_length() == len(requests))
    pipeline.gate.set()
    await asyncio.gather(first, *tasks)
    for call in pipeline.calls:
        styles = {r.style for r in requests if r.prompt in call.prompts}
        sizes = {(r.width, r.height) for r in requests if r.prompt in call.prompts}
        assert len(styles) <= 1 and len(sizes) <= 1
        assert styles <= {call.style}
    assert sorted(pipeline.images_run) == sorted(["first", *[r.prompt for r in requests]])
    # otter requests a and c ran together (same style and size) right after the active otter batch
    assert pipeline.calls[1].prompts == ["a", "c"]


async def test_active_style_is_preferred_but_other_styles_do_not_starve():
    pipeline = CountingPipeline(gate=threading.Event())
    engine = make_engine(pipeline, max_batch_size=1, style_patience=2, queue_size=16)
    await engine.start()
    try:
        first = asyncio.create_task(engine.generate(req("otter 0")))
        await until(pipeline.running.is_set)
        rabbit = asyncio.create_task(engine.generate(req("rabbit", "rabbit")))
        otters = [asyncio.create_task(engine.generate(req(f"otter {i}"))) for i in range(1, 6)]
        await until(lambda: engine.queue_length() == 6)
        pipeline.gate.set()
        await asyncio.gather(first, rabbit, *otters)
    finally:
        await engine.close()
    order = pipeline.images_run
    # two otter batches pass the older rabbit request (patience 2), then it runs
    assert order[:4] == ["otter 0", "otter 1", "otter 2", "rabbit"]
    assert pipeline.activations == ["otter", "rabbit", "otter"]
    assert engine.stats().switches == 3


async def test_full_queue_raises_overloaded(gated):
    engine, pipeline = gated
    first = await occupy(engine, pipeline)
    waiting = [asyncio.create_task(engine.generate(req(f"o{i}"))) for i in range(engine.config.queue_size)]
    await until(lambda: engine.queue_length() == engine.config.queue_size)
    with pytest.raises(Overloaded) as info:
        await engine.generate(req("one too many"))
    assert "busy" in info.value.user_message
    pipeline.gate.set()
    await asyncio.gather(first, *waiting)


async def test_request_cancelled_before_start_never_reaches_the_model(gated):
    engine, pipeline = gated
    first = await occupy(engine, pipeline)
    doomed = asyncio.create_task(engine.generate(req("cancel me")))
    kept = asyncio.create_task(engine.generate(req("keep me")))
    await until(lambda: engine.queue_length() == 2)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert engine.queue_length() == 1
    pipeline.gate.set()
    await asyncio.gather(first, kept)
    assert "cancel me" not in pipeline.images_run
    assert "keep me" in pipeline.images_run


async def test_timeout_while_waiting_raises_and_skips_the_model(gated):
    engine, pipeline = gated
    first = await occupy(engine, pipeline)
    with pytest.raises(GenerationTimeout) as info:
        await engine.generate(req("too slow", timeout_s=0.05))
    assert info.value.user_message
    assert engine.queue_length() == 0
    pipeline.gate.set()
    await first
    assert "too slow" not in pipeline.images_run


async def test_timeout_while_running_raises_and_engine_keeps_serving(gated):
    engine, pipeline = gated
    with pytest.raises(GenerationTimeout):
        await engine.generate(req("stuck", timeout_s=0.05))
    pipeline.gate.set()
    result = await engine.generate(req("after"))
    assert len(result.stickers) == 1


async def test_failing_batch_fails_only_its_requests_and_engine_recovers(gated):
    engine, pipeline = gated
    pipeline.fail_prompts = {"poison"}
    first = await occupy(engine, pipeline)
    bad_batch = [asyncio.create_task(engine.generate(req(p))) for p in ("poison", "neighbour")]
    other_style = asyncio.create_task(engine.generate(req("fine", "rabbit")))
    await until(lambda: engine.queue_length() == 3)
    pipeline.gate.set()
    outcomes = await asyncio.gather(first, *bad_batch, other_style, return_exceptions=True)
    assert not isinstance(outcomes[0], BaseException)
    for outcome in outcomes[1:3]:
        assert isinstance(outcome, GenerationFailed)
        assert "went wrong" in outcome.user_message
        assert "CUDA" not in outcome.user_message  # internals stay in the log
    assert not isinstance(outcomes[3], BaseException)
    assert engine.stats().failed_batches == 1
    result = await engine.generate(req("again"))
    assert len(result.stickers) == 1


async def test_style_activation_error_reaches_only_that_style():
    pipeline = CountingPipeline(broken_styles={"fox"})
    engine = make_engine(pipeline)
    await engine.start()
    try:
        with pytest.raises(StyleError):
            await engine.generate(req("fox", "fox"))
        assert (await engine.generate(req("otter"))).stickers
    finally:
        await engine.close()


async def test_positions_reported_while_waiting_then_zero(gated):
    engine, pipeline = gated
    first = await occupy(engine, pipeline)
    seen: dict[str, list[int]] = {"a": [], "b": []}

    async def record_b(position: int) -> None:
        seen["b"].append(position)

    a = asyncio.create_task(engine.generate(req("a", "rabbit"), on_position=seen["a"].append))
    b = asyncio.create_task(engine.generate(req("b", "fox"), on_position=record_b))
    await until(lambda: seen["a"] == [1] and seen["b"] == [2])
    assert engine.queue_length() == 2
    pipeline.gate.set()
    await asyncio.gather(first, a, b)
    assert seen["a"] == [1, 0]
    assert seen["b"] == [2, 1, 0]


async def test_batched_and_alone_requests_get_the_same_seeds(gated):
    engine, pipeline = gated
    first = await occupy(engine, pipeline)
    tasks = [asyncio.create_task(engine.generate(req(f"o{i}", seed=10 * i, count=2))) for i in range(2)]
    await until(lambda: engine.queue_length() == 2)
    pipeline.gate.set()
    await asyncio.gather(first, *tasks)
    assert pipeline.calls[1].seeds == [0, 1, 10, 11]


@pytest.mark.parametrize(
    ("request_", "error", "words"),
    [
        (req(""), InvalidRequest, "empty"),
        (req("   "), InvalidRequest, "empty"),
        (req("x" * 301), InvalidRequest, "too long"),
        (req("bad\x00byte"), InvalidRequest, "control character"),
        (req("line\nbreak"), InvalidRequest, "control character"),
        (req(style="../../etc/passwd"), UnknownStyle, "Available styles: fox, otter, rabbit"),
        (req(count=0), InvalidRequest, "between 1 and 4"),
        (req(count=5), InvalidRequest, "between 1 and 4"),
        (req(steps=0), InvalidRequest, "Steps"),
        (req(steps=5), InvalidRequest, "Steps"),
        (req(seed=-1), InvalidRequest, "seed"),
        (GenerationRequest(prompt="a", style="otter", seed=1, width=100), InvalidRequest, "multiples of 8"),
    ],
)
async def test_bad_requests_are_rejected_before_the_queue(request_, error, words):
    pipeline = CountingPipeline()
    engine = make_engine(pipeline)
    await engine.start()
    try:
        with pytest.raises(error) as info:
            await engine.generate(request_)
    finally:
        await engine.close()
    assert words in info.value.user_message
    assert pipeline.calls == []


async def test_emoji_and_unicode_prompts_are_accepted():
    pipeline = CountingPipeline()
    engine = make_engine(pipeline)
    await engine.start()
    try:
        await engine.generate(req("otter 🦦 mit Käse, 猫, ‍👩‍💻"))
    finally:
        await engine.close()
    assert len(pipeline.calls) == 1


async def test_loading_error_is_given_to_every_request():
    def missing() -> CountingPipeline:
        raise ModelMissing("Model 'stabilityai/sdxl-turbo' is not downloaded.")

    engine = make_engine(missing)
    await engine.start()
    try:
        for _ in range(2):
            with pytest.raises(ModelMissing) as info:
                await engine.generate(req())
            assert "sdxl-turbo" in info.value.user_message
        with pytest.raises(ModelMissing):
            await engine.wait_ready()
    finally:
        await engine.close()


async def test_requests_queued_during_loading_run_when_ready():
    loaded = threading.Event()
    pipeline = CountingPipeline()

    def slow_factory() -> CountingPipeline:
        assert loaded.wait(5)
        return pipeline

    engine = make_engine(slow_factory)
    await engine.start()  # returns before the model is loaded
    try:
        tasks = [asyncio.create_task(engine.generate(req(f"o{i}"))) for i in range(3)]
        await until(lambda: engine.queue_length() == 3)
        loaded.set()
        await asyncio.gather(*tasks)
    finally:
        await engine.close()
    assert len(pipeline.calls) == 1  # queued while loading, so batched together


async def test_close_fails_queued_requests_and_rejects_new_ones(gated):
    engine, pipeline = gated
    first = await occupy(engine, pipeline)
    queued = asyncio.create_task(engine.generate(req("queued")))
    await until(lambda: engine.queue_length() == 1)
    pipeline.gate.set()
    await engine.close()
    with pytest.raises(EngineClosed):
        await queued
    await first
    with pytest.raises(EngineClosed):
        await engine.generate(req())


async def test_cancelled_close_still_finishes_the_shutdown(gated):
    engine, pipeline = gated
    first = await occupy(engine, pipeline)
    closing = asyncio.create_task(engine.close())
    await until(lambda: not engine.ready)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing  # the caller's cancellation is not swallowed
    pipeline.gate.set()
    assert (await first).stickers  # the running batch was not cut off
    await engine.close()  # a second close waits for the same shutdown
    assert engine._worker is not None and engine._worker._shutdown


async def test_post_processing_failure_fails_that_request_only():
    pipeline = CountingPipeline()

    def finisher(image, style, request):
        if request.prompt == "unlucky":
            raise ValueError("matting failed")
        return plain_webp(image, style, request)

    engine = Engine(lambda: pipeline, STYLES, EngineConfig(max_wait_ms=0), finisher=finisher)
    await engine.start()
    try:
        with pytest.raises(GenerationFailed):
            await engine.generate(req("unlucky"))
        assert (await engine.generate(req("lucky"))).stickers
    finally:
        await engine.close()


async def test_timeout_counts_from_the_model_being_ready():
    loaded = threading.Event()
    pipeline = CountingPipeline()

    def slow_factory() -> CountingPipeline:
        assert loaded.wait(5)
        return pipeline

    engine = make_engine(slow_factory)
    await engine.start()
    try:
        task = asyncio.create_task(engine.generate(req("patient", timeout_s=0.2)))
        await asyncio.sleep(0.4)  # longer than the timeout, but the model is still loading
        loaded.set()
        assert (await task).stickers
    finally:
        await engine.close()


@dataclass(eq=False)
class Queued:
    key: BatchKey
    images: int = 1
    passed_over: int = 0


def queued(style: str, images: int = 1, side: int = 512) -> Queued:
    return Queued(BatchKey(style, side, side, 1), images)


def test_choose_batch_fills_up_to_the_image_limit_in_order():
    pending = [queued("otter", 2), queued("otter", 3), queued("otter", 1), queued("otter", 1)]
    assert choose_batch(pending, "otter", 4, 3) == [pending[0], pending[2], pending[3]]


def test_choose_batch_runs_an_oversized_request_alone():
    pending = [queued("otter", 4), queued("otter")]
    assert choose_batch(pending, None, 2, 3) == [pending[0]]


def test_choose_batch_prefers_active_style_until_patience_runs_out():
    pending = [queued("rabbit"), queued("otter"), queued("otter", side=256)]
    assert choose_batch(pending, "otter", 4, 1) == [pending[1]]  # sizes never mix either
    mark_passed_over(pending, [pending[1]])
    assert pending[0].passed_over == 1
    assert choose_batch(pending, "otter", 4, 1) == [pending[0]]
    assert choose_batch([], "otter", 4, 1) == []


async def test_unavailable_style_is_hidden_and_answered_with_its_reason():
    reason = StyleError("Style 'fox' is unavailable: LoRA fox.safetensors could not be fetched.")
    pipeline = CountingPipeline(unavailable={"fox": reason})
    engine = make_engine(pipeline)
    await engine.start()
    try:
        await engine.wait_ready()
        assert [s.name for s in engine.styles()] == ["otter", "rabbit"]
        with pytest.raises(StyleError) as info:
            await engine.generate(req("fox", "fox"))
        assert "could not be fetched" in info.value.user_message
    finally:
        await engine.close()
    assert pipeline.calls == []


async def test_engine_can_start_again_after_close():
    pipeline = CountingPipeline()
    engine = make_engine(pipeline)
    for _ in range(2):
        await engine.start()
        assert (await engine.generate(req())).stickers
        await engine.close()
    assert len(pipeline.calls) == 2


async def test_post_processing_overlaps_the_next_pipeline_call():
    pipeline = CountingPipeline(gate=threading.Event())
    overlapped: list[bool] = []

    def finisher(image, style, request):
        if request.prompt == "first":  # blocks until the worker has started the next batch
            overlapped.append(_wait_for(lambda: len(pipeline.calls) >= 2))
        return plain_webp(image, style, request)

    engine = Engine(lambda: pipeline, STYLES, EngineConfig(max_wait_ms=0), finisher=finisher)
    await engine.start()
    try:
        first = await occupy(engine, pipeline)
        second = asyncio.create_task(engine.generate(req("second", "rabbit")))
        await until(lambda: engine.queue_length() == 1)
        pipeline.gate.set()
        await asyncio.gather(first, second)
    finally:
        await engine.close()
    assert overlapped == [True]


def _wait_for(condition: Callable[[], bool]) -> bool:
    """Blocking poll for a post-processing thread; False after 5 s."""
    deadline = time.monotonic() + 5
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


async def test_request_that_starts_at_once_is_only_told_zero():
    pipeline = CountingPipeline()
    engine = make_engine(pipeline)
    await engine.start()
    await engine.wait_ready()
    seen: list[int] = []
    try:
        await engine.generate(req(), on_position=seen.append)
    finally:
        await engine.close()
    assert seen == [0]


async def test_bounded_close_abandons_a_hung_model_call(gated):
    """A model call that never returns must not hold the shutdown: its requests fail with
    EngineClosed after the bound, `abandoned` reports them, and the worker can't block exit."""
    engine, pipeline = gated
    first = await occupy(engine, pipeline)
    queued = asyncio.create_task(engine.generate(req("second", seed=5)))
    await asyncio.sleep(0.01)
    started = time.monotonic()
    await engine.close(timeout_s=0.2)
    assert time.monotonic() - started < 3.0
    assert engine.abandoned == 1  # the running request; the queued one was refused, not abandoned
    for task in (first, queued):
        with pytest.raises(EngineClosed):
            await task
    worker = next(t for t in threading.enumerate() if t.name == "sticker-pipeline")
    assert worker.daemon and worker.is_alive()  # still stuck in the model, but won't block exit


async def test_unbounded_close_still_waits_for_the_running_batch(gated):
    engine, pipeline = gated
    first = await occupy(engine, pipeline)
    closing = asyncio.create_task(engine.close())
    await asyncio.sleep(0.2)
    assert not closing.done()
    pipeline.gate.set()
    await closing
    assert (await first).stickers and engine.abandoned == 0


async def test_stats_series_are_bounded():
    from generator.api import STATS_WINDOW

    engine = make_engine(CountingPipeline())
    for i in range(STATS_WINDOW + 10):
        engine.stats().batch_sizes.append(i)
        engine.stats().switch_ms.append(float(i))
    assert len(engine.stats().batch_sizes) == len(engine.stats().switch_ms) == STATS_WINDOW
    assert engine.stats().batch_sizes[-1] == STATS_WINDOW + 9
