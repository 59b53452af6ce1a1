"""The in-process sticker engine: one async entry point in front of one pipeline-owning worker thread.

Flow of a request: validate → bounded queue (typed `Overloaded` when full) → the scheduler
(an asyncio task) groups queued requests of one style, size and step count into a batch →
the worker thread activates the style's fused weights if needed and runs one pipeline call →
post-processing (matting, outline, WebP) runs on a small thread pool *while the worker already
runs the next batch* → each request's future gets its stickers.

Diffusers pipelines and schedulers are not thread-safe, so exactly one thread ever touches the
pipeline. Nothing here imports torch: the pipeline arrives through a factory, which keeps the
engine testable with a counting fake and replaceable by a remote backend behind `StickerEngine`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from generator.api import (
    AnimationResult,
    EngineClosed,
    EngineHealth,
    EngineStats,
    GenerationFailed,
    GenerationRequest,
    GenerationResult,
    GenerationTimeout,
    GeneratorError,
    InvalidRequest,
    Overloaded,
    PositionCallback,
    Sticker,
    StickerEngine,
    StyleError,
    StyleSummary,
)
from generator.options import EngineConfig, ModelConfig
from generator.scheduling import BatchKey, batch_images, choose_batch, mark_passed_over
from generator.subject_styles import MAX_SUBJECT_STYLES, subject_style_name
from generator.validation import validate_request
from generator.worker_thread import DaemonWorker

if TYPE_CHECKING:
    from PIL import Image

    from generator.animation.engine_clips import DiffusionClips
    from generator.styles import StyleRegistry

log = logging.getLogger(__name__)

OUTLINE_PX = 8
"""Outline width in pixels of a 512-pixel sticker when the style (or request) asks for one."""


def default_postprocess_workers() -> int:
    """Threads for matting and encoding: enough to keep up with a GPU, few enough to leave a CPU room."""
    return min(4, max(2, (os.cpu_count() or 2) // 2))


class StylePipeline(Protocol):
    """What the engine needs from the pipeline owner (`generator.pipeline.StickerPipeline`)."""

    def activate_style(self, name: str) -> float:
        """Make `name`'s fused weights current; returns the milliseconds it took."""
        ...

    def run(
        self,
        prompts: list[str],
        negative_prompts: list[str],
        seeds: list[int],
        steps: int,
        width: int,
        height: int,
    ) -> list[Image.Image]:
        """One batched pipeline call, one generator (seed) per image."""
        ...

    def warmup(self) -> None: ...

    @property
    def unavailable(self) -> Mapping[str, GeneratorError]:
        """Styles that cannot run (e.g. a LoRA that could not be fetched), with the reason."""
        ...


Finisher = Callable[["Image.Image", StyleSummary, GenerationRequest], bytes]
"""Turns one generated image into sticker bytes (WebP with alpha)."""


def sticker_finisher(matting: Mapping[str, str], default_matting: str = "flood") -> Finisher:
    """Post-processing with the style's background, outline and matting, and the request's overrides."""

    def finish(image: Image.Image, style: StyleSummary, request: GenerationRequest) -> bytes:
        from generator.postprocess import StickerOptions, make_sticker

        outline = style.outline if request.outline is None else request.outline
        options = StickerOptions(
            background=style.background,
            outline=OUTLINE_PX if outline else 0,
            shadow=request.shadow,
            matting=matting.get(style.name, default_matting),
        )
        return make_sticker(image, options)

    return finish


@dataclass(eq=False, slots=True)
class _Job:
    request: GenerationRequest
    key: BatchKey
    negative_prompt: str
    future: asyncio.Future[GenerationResult]
    on_position: PositionCallback | None
    enqueued: float
    passed_over: int = 0
    started: bool = False
    last_position: int = -1

    @property
    def images(self) -> int:
        return self.request.count


@dataclass(frozen=True, slots=True)
class _BatchOutput:
    images: list[Any]
    switched: bool
    switch_ms: float
    generate_ms: float


class Engine(StickerEngine):
    """`StickerEngine` running a local pipeline in one worker thread (see the module docstring)."""

    def __init__(
        self,
        pipeline_factory: Callable[[], StylePipeline],
        styles: Sequence[StyleSummary],
        config: EngineConfig | None = None,
        *,
        finisher: Finisher | None = None,
        postprocess_workers: int | None = None,
        warmup: bool = True,
        clips: DiffusionClips | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        self._clips = clips  # video diffusion (`animate`); None: this engine has no motion adapter
        self.counters = EngineStats()
        self._factory = pipeline_factory
        self._styles = {style.name: style for style in styles}
        self._finisher = finisher or sticker_finisher({}, self.config.matting)
        self._postprocess_workers = postprocess_workers or default_postprocess_workers()
        self._warmup = warmup
        self._pending: list[_Job] = []
        self._finishing: dict[asyncio.Task[None], list[_Job]] = {}  # post-processing, by its batch
        self._callbacks: set[asyncio.Task[Any]] = set()
        self._pipeline: StylePipeline | None = None
        self._active_style: str | None = None
        self._load_error: GeneratorError | None = None
        self._unavailable: dict[str, GeneratorError] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: asyncio.Future[None] | None = None
        self._arrived: asyncio.Event | None = None
        self._scheduler: asyncio.Task[None] | None = None
        self._shutdown: asyncio.Future[None] | None = None
        self._worker: DaemonWorker | None = None
        self._running_batch: list[_Job] = []
        self._subject_styles: dict[str, tuple[str, str]] = {}  # "style+subject" -> (style, LoRA path)
        self.abandoned = 0  # requests given up in a model call that outlasted the shutdown bound
        self._post_pool: ThreadPoolExecutor | None = None
        self._last_arrival = float("-inf")
        self._last_gap = float("inf")
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start loading the model in the worker thread and return; `generate` waits for it."""
        if self._scheduler is not None:
            return
        self._closed = False
        self._shutdown = None
        self._load_error = None
        self._active_style = None
        self._loop = asyncio.get_running_loop()
        self._arrived = asyncio.Event()
        self._worker = DaemonWorker("sticker-pipeline")
        self._post_pool = ThreadPoolExecutor(
            max_workers=self._postprocess_workers, thread_name_prefix="sticker-post"
        )
        self._ready = asyncio.ensure_future(self._loop.run_in_executor(self._worker, self._load))
        self._scheduler = asyncio.create_task(self._schedule(), name="sticker-scheduler")
        self._scheduler.add_done_callback(self._scheduler_done)

    def _scheduler_done(self, task: asyncio.Task[None]) -> None:
        """A scheduler bug must not leave callers waiting for their timeout: fail them at once."""
        if task.cancelled() or task.exception() is None:
            return
        log.error("the sticker scheduler stopped", exc_info=task.exception())
        self._load_error = GenerationFailed("The sticker engine stopped. Please try again later.")
        for job in self._pending:
            _fail(job, self._load_error)
        self._pending.clear()

    async def wait_ready(self) -> None:
        """Wait until the model is loaded (raises the loading error, e.g. `ModelMissing`)."""
        if self._ready is None:
            raise EngineClosed("The sticker engine is not running.")
        await asyncio.shield(self._ready)
        if self._load_error is not None:
            raise _fresh(self._load_error)

    async def close(self, timeout_s: float | None = None) -> None:
        """Fail what is still queued with `EngineClosed`, let the running batch finish, release threads.

        With `timeout_s`, a model call still running after that long is abandoned: its requests fail
        with `EngineClosed`, `abandoned` counts them, and the worker (a daemon thread) no longer holds
        the process. The shutdown runs as its own task: a cancelled caller gets its `CancelledError`
        without stopping the shutdown half-way, and every caller returns once it is complete."""
        if self._shutdown is None:
            self._closed = True
            for job in self._pending:
                _fail(job, EngineClosed("The sticker engine is shutting down."))
            self._pending.clear()
            self._shutdown = asyncio.ensure_future(self._close(timeout_s))
        await asyncio.shield(self._shutdown)

    async def _close(self, timeout_s: float | None) -> None:
        deadline = None if timeout_s is None else time.monotonic() + max(0.0, timeout_s)

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        abandoned: list[_Job] = []
        if self._scheduler is not None:
            if self._ready is not None and not self._ready.done():
                self._scheduler.cancel()  # still loading: no batch can be running
            if self._arrived is not None:
                self._arrived.set()
            # Ends normally, cancelled (above) or failed (logged) — or, past the bound, is given up.
            await asyncio.wait([self._scheduler], timeout=left())
            if not self._scheduler.done():
                abandoned.extend(job for job in self._running_batch if not job.future.done())
                self._scheduler.cancel()
                await asyncio.wait([self._scheduler])
        if self._finishing:
            _, late = await asyncio.wait(self._finishing, timeout=left())
            for task in late:
                task.cancel()
                abandoned.extend(job for job in self._finishing.get(task, ()) if not job.future.done())
        for job in abandoned:
            _fail(job, EngineClosed("The sticker engine stopped before this sticker was finished."))
        self.abandoned = sum(1 for _ in dict.fromkeys(abandoned))
        if self.abandoned:
            log.error(
                "shutdown: gave up on %d request(s) still being drawn after %.1f s",
                self.abandoned,
                timeout_s or 0.0,
            )
        # Join the threads, within the bound: a model call that is stuck is abandoned with its
        # daemon thread (see worker_thread.abandoned_threads) instead of holding the process.
        hung = False
        if self._worker is not None:
            self._worker.shutdown(wait=False, cancel_futures=True)
            hung = not await asyncio.to_thread(self._worker.join, left())
        if self._post_pool is not None:
            self._post_pool.shutdown(wait=False, cancel_futures=True)
            if not hung:
                await asyncio.to_thread(self._post_pool.shutdown, True)
        self._scheduler = None
        self._pipeline = None

    @property
    def ready(self) -> bool:
        """True once the model is loaded and stickers can be made."""
        return self._pipeline is not None and self._load_error is None and not self._closed

    @property
    def load_error(self) -> GeneratorError | None:
        """Why no sticker can be made (e.g. `ModelMissing`), once loading has failed; else None."""
        return self._load_error

    # ------------------------------------------------------------------ the contract
    def styles(self) -> Sequence[StyleSummary]:
        """The installed styles; once the model is loaded, without those that cannot run."""
        return [style for name, style in self._styles.items() if name not in self._unavailable]

    def unavailable_styles(self) -> Mapping[str, str]:
        """Installed styles that cannot run (e.g. a broken LoRA), with the reason for the operator."""
        return {name: exc.detail or exc.user_message for name, exc in self._unavailable.items()}

    def queue_length(self) -> int:
        return sum(1 for job in self._pending if not job.future.done())

    def health(self) -> EngineHealth:
        """Ready once the model is loaded; `error` once loading has failed."""
        if self._load_error is not None:
            return EngineHealth(ready=False, error=self._load_error)
        return EngineHealth(ready=self.ready)

    def stats(self) -> EngineStats:
        """The live counters (batches, images, style switches, batch sizes)."""
        return self.counters

    async def generate(
        self, request: GenerationRequest, on_position: PositionCallback | None = None
    ) -> GenerationResult:
        if self._closed or self._scheduler is None:
            raise EngineClosed("The sticker engine is not running.")
        style = validate_request(request, self._styles)
        if self._load_error is not None:
            raise _fresh(self._load_error)
        if request.style in self._unavailable:
            raise _fresh(self._unavailable[request.style])
        if self.queue_length() >= self.config.queue_size:
            raise Overloaded("The sticker engine is busy. Please try again in a moment.")
        assert self._loop is not None and self._arrived is not None
        steps = request.steps or style.steps or self.config.default_steps
        now = time.monotonic()
        self._last_gap, self._last_arrival = now - self._last_arrival, now
        batch_style = request.style
        if request.subject_lora is not None:
            batch_style = subject_style_name(request.style, request.subject_lora)
            self._subject_styles[batch_style] = (request.style, request.subject_lora)
            while len(self._subject_styles) > MAX_SUBJECT_STYLES:
                self._subject_styles.pop(next(iter(self._subject_styles)))
        job = _Job(
            request=request,
            key=BatchKey(batch_style, request.width, request.height, steps),
            negative_prompt=style.negative_prompt
            if request.negative_prompt is None
            else request.negative_prompt,
            future=self._loop.create_future(),
            on_position=on_position,
            enqueued=now,
        )
        self._pending.append(job)
        self._arrived.set()
        # After the scheduler's turn: a request that starts at once is told 0 only, not "1st in line".
        self._loop.call_soon(self._report_positions)
        timeout_s = request.timeout_s if request.timeout_s is not None else self.config.timeout_s
        try:
            if self._ready is not None and not self._ready.done():
                await asyncio.shield(self._ready)  # the timeout counts from the model being ready
            async with asyncio.timeout(timeout_s):
                return await job.future
        except TimeoutError:
            raise GenerationTimeout(
                "Drawing that sticker took too long. Please try again.", detail=f"after {timeout_s:g} s"
            ) from None
        finally:
            if not job.started and job in self._pending:
                self._pending.remove(job)
                self._report_positions()

    async def animate(self, request: GenerationRequest, formats: Sequence[str]) -> AnimationResult:
        """AnimateDiff on the worker thread (between batches, in the request's fused style), then the
        cut-out and encoding on the post-processing pool."""
        from generator.animation.errors import AnimationUnavailable

        if self._closed or self._scheduler is None:
            raise EngineClosed("The sticker engine is not running.")
        style = validate_request(request, self._styles)
        if request.subject_lora is not None:
            raise InvalidRequest("Taught subjects cannot be animated with video diffusion yet; try a motion.")
        if self._clips is None:
            raise AnimationUnavailable("Diffusion animations are off here; motion presets still work.")
        assert self._loop is not None
        timeout_s = request.timeout_s if request.timeout_s is not None else self.config.timeout_s
        if self._ready is not None and not self._ready.done():
            await asyncio.shield(self._ready)
        if self._load_error is not None:
            raise _fresh(self._load_error)
        if request.style in self._unavailable:
            raise _fresh(self._unavailable[request.style])
        steps = request.steps or style.steps or self.config.default_steps
        try:
            async with asyncio.timeout(timeout_s):
                frames = await self._loop.run_in_executor(
                    self._worker, self._animate_on_worker, request, style, steps
                )
                files = await self._loop.run_in_executor(
                    self._post_pool, _encode_frames, frames, style, request, tuple(formats)
                )
        except TimeoutError:
            raise GenerationTimeout(
                "That animation took too long. Please try again.", detail=f"after {timeout_s:g} s"
            ) from None
        except GeneratorError:
            raise
        except Exception as exc:
            log.exception("a diffusion animation in style %r failed", request.style)
            raise GenerationFailed(
                "Something went wrong while animating that sticker.", detail=repr(exc)
            ) from exc
        return AnimationResult(request=request, files=files)

    # ------------------------------------------------------------------ worker thread
    def _animate_on_worker(self, request: GenerationRequest, style: StyleSummary, steps: int) -> list[Any]:
        assert self._pipeline is not None and self._clips is not None
        self._activate(request.style)
        return self._clips.frames_on_worker(self._pipeline, request, style, steps)

    def _activate(self, style: str) -> tuple[bool, float]:
        """Fuse `style` into the pipeline unless it is already: (switched, switch ms)."""
        assert self._pipeline is not None
        if style == self._active_style:
            return False, 0.0
        self._active_style = None  # unknown state if activation fails half-way
        if style in self._subject_styles:
            add = getattr(self._pipeline, "add_subject_style", None)
            if add is None:
                raise StyleError("This sticker engine cannot draw taught subjects.")
            add(style, *self._subject_styles[style])
        switch_ms = float(self._pipeline.activate_style(style))
        self._active_style = style
        return True, switch_ms

    def _load(self) -> None:
        """Runs in the worker thread: build the pipeline (and warm it up) or store the typed error."""
        started = time.perf_counter()
        try:
            pipeline = self._factory()
            if self._warmup:
                pipeline.warmup()
            self._unavailable = dict(pipeline.unavailable)
            self._pipeline = pipeline
            choice = getattr(pipeline, "choice", None)
            precision = f" ({choice.reason})" if choice is not None else ""
            log.info("sticker model ready in %.1f s%s", time.perf_counter() - started, precision)
        except GeneratorError as exc:
            # The operator sees why stickers cannot be made; users get exc.user_message per request.
            log.error("the sticker model is not available: %s", exc.user_message)
            if exc.detail:
                log.debug("model load failure detail: %s", exc.detail)
            self._load_error = exc
        except Exception as exc:
            log.exception("loading the sticker model failed")
            self._load_error = GenerationFailed("The sticker model could not be loaded.", detail=repr(exc))

    def _run_batch_on_worker(
        self, key: BatchKey, prompts: list[str], negatives: list[str], seeds: list[int]
    ) -> _BatchOutput:
        assert self._pipeline is not None
        switched, switch_ms = self._activate(key.style)
        started = time.perf_counter()
        images = self._pipeline.run(prompts, negatives, seeds, key.steps, key.width, key.height)
        if len(images) != len(prompts):
            raise RuntimeError(f"pipeline returned {len(images)} images for {len(prompts)} prompts")
        return _BatchOutput(images, switched, switch_ms, (time.perf_counter() - started) * 1000)

    # ------------------------------------------------------------------ scheduler (event loop)
    async def _schedule(self) -> None:
        assert self._ready is not None
        await asyncio.shield(self._ready)
        if self._load_error is not None:
            for job in self._pending:
                _fail(job, self._load_error)
            self._pending.clear()
            return
        while (batch := await self._next_batch()) is not None:
            await self._backpressure()
            await self._run_batch(batch)

    async def _next_batch(self) -> list[_Job] | None:
        """Wait for work, then (under a burst) up to `max_wait_ms` for companions of the first request."""
        assert self._arrived is not None
        max_wait_s = self.config.max_wait_ms / 1000
        while not self._closed:
            self._pending = [job for job in self._pending if not job.future.done()]
            if not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            batch = choose_batch(
                self._pending, self._active_style, self.config.max_batch_size, self.config.style_patience
            )
            # Waiting for companions only pays off when requests are arriving in a burst; a lone
            # request (the last arrival long ago) starts at once.
            remaining = batch[0].enqueued + max_wait_s - time.monotonic()
            bursty = self._last_gap <= max_wait_s
            if batch_images(batch) >= self.config.max_batch_size or remaining <= 0 or not bursty:
                mark_passed_over(self._pending, batch)
                return batch
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()
        return None

    async def _backpressure(self) -> None:
        """Keep at most two finished batches waiting for post-processing (bounds memory)."""
        while len(self._finishing) >= 2:
            await asyncio.wait(self._finishing, return_when=asyncio.FIRST_COMPLETED)

    async def _run_batch(self, batch: list[_Job]) -> None:
        assert self._loop is not None
        for job in batch:
            job.started = True
            self._pending.remove(job)
        batch = [job for job in batch if not job.future.done()]
        if not batch:
            return
        for job in batch:
            self._notify(job, 0)
        self._report_positions()
        key = batch[0].key
        prompts = [job.request.prompt for job in batch for _ in range(job.images)]
        negatives = [job.negative_prompt for job in batch for _ in range(job.images)]
        seeds = [seed for job in batch for seed in job.request.seeds()]
        started = time.monotonic()
        self._running_batch = batch
        try:
            output = await self._loop.run_in_executor(
                self._worker, self._run_batch_on_worker, key, prompts, negatives, seeds
            )
        except Exception as exc:
            self.counters.failed_batches += 1
            if isinstance(exc, GeneratorError):
                error: GeneratorError = exc
            else:
                log.exception("a batch of %d image(s) in style %r failed", len(prompts), key.style)
                error = GenerationFailed("Something went wrong while drawing that sticker.", detail=repr(exc))
            for job in batch:
                _fail(job, error)
            self._running_batch = []
            return
        self.counters.batches += 1
        self.counters.images += len(prompts)
        self._running_batch = []
        self.counters.batch_sizes.append(len(prompts))
        if output.switched:
            self.counters.switches += 1
            self.counters.switch_ms.append(output.switch_ms)
        task = asyncio.create_task(self._finish(batch, output, started))
        self._finishing[task] = batch
        task.add_done_callback(lambda done: self._finishing.pop(done, None))

    async def _finish(self, batch: list[_Job], output: _BatchOutput, started: float) -> None:
        """Post-process one batch on the pool (overlapping the next pipeline call) and resolve futures."""
        offset = 0
        jobs = []
        for job in batch:
            jobs.append(self._finish_job(job, output, offset, started))
            offset += job.images
        await asyncio.gather(*jobs)

    async def _finish_job(self, job: _Job, output: _BatchOutput, offset: int, started: float) -> None:
        assert self._loop is not None
        if job.future.done():  # timed out or cancelled while its batch ran
            return
        style = self._styles[job.request.style]
        post_started = time.monotonic()
        try:
            encoded = await asyncio.gather(
                *(
                    self._loop.run_in_executor(self._post_pool, self._finisher, image, style, job.request)
                    for image in output.images[offset : offset + job.images]
                )
            )
            stickers = tuple(
                _sticker(data, seed) for data, seed in zip(encoded, job.request.seeds(), strict=True)
            )
        except Exception as exc:
            log.exception("post-processing failed for request %r", job.request.request_id)
            _fail(
                job, GenerationFailed("Something went wrong while finishing that sticker.", detail=repr(exc))
            )
            return
        done = time.monotonic()
        timings = {
            "queue_ms": (started - job.enqueued) * 1000,
            "switch_ms": output.switch_ms,
            "generate_ms": output.generate_ms,
            "postprocess_ms": (done - post_started) * 1000,
            "total_ms": (done - job.enqueued) * 1000,
            "batch_images": float(len(output.images)),
        }
        if not job.future.done():
            job.future.set_result(
                GenerationResult(request=job.request, stickers=stickers, timings_ms=timings)
            )

    # ------------------------------------------------------------------ positions
    def _report_positions(self) -> None:
        position = 0
        for job in self._pending:
            if job.future.done():
                continue
            position += 1
            if job.last_position != position:
                self._notify(job, position)

    def _notify(self, job: _Job, position: int) -> None:
        job.last_position = position
        if job.on_position is None:
            return
        try:
            result = job.on_position(position)
        except Exception:
            log.warning("a queue-position callback failed", exc_info=True)
            return
        if asyncio.iscoroutine(result):
            task = asyncio.ensure_future(result)
            self._callbacks.add(task)
            task.add_done_callback(_callback_done(self._callbacks))


def _callback_done(tasks: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a queue-position callback failed: %r", task.exception())

    return done


def _fail(job: _Job, error: GeneratorError) -> None:
    if not job.future.done():
        job.future.set_exception(_fresh(error))


def _fresh(error: GeneratorError) -> GeneratorError:
    """A new instance per raise, so tracebacks of one stored error don't pile up across requests."""
    try:
        return type(error)(error.user_message, detail=error.detail)
    except TypeError:
        return error


def _sticker(data: bytes, seed: int) -> Sticker:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
    return Sticker(webp=data, seed=seed, width=width, height=height)


def _encode_frames(
    frames: list[Any], style: StyleSummary, request: GenerationRequest, formats: tuple[str, ...]
) -> dict[str, bytes]:
    from generator.animation.engine_clips import encode_frames

    return encode_frames(frames, style, request, formats)


def build_engine(
    model_cfg: ModelConfig, engine_cfg: EngineConfig, *, registry: StyleRegistry | None = None
) -> Engine:
    """The composition root's factory: styles from `engine.styles_dir`, the SDXL pipeline from `model`.

    Nothing heavy happens here; `await engine.start()` begins loading the model in the worker thread.
    """
    from generator.animation.engine_clips import DiffusionClips
    from generator.pipeline import StickerPipeline
    from generator.styles import StyleRegistry

    styles = registry if registry is not None else StyleRegistry.load(engine_cfg.styles_dir)
    matting = {spec.name: spec.matting or engine_cfg.matting for spec in styles}
    return Engine(
        lambda: StickerPipeline.load(model_cfg, styles, hot_styles=engine_cfg.hot_styles),
        styles.summaries(),
        engine_cfg,
        finisher=sticker_finisher(matting, engine_cfg.matting),
        warmup=model_cfg.warmup,
        clips=DiffusionClips(
            model_cfg.motion_adapter,
            local_files_only=model_cfg.local_files_only,
            frames=model_cfg.motion_frames,
            from_static_strength=model_cfg.motion_from_static_strength,
        ),
    )
