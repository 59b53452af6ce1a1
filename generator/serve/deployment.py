"""The Serve deployment: one `StickerPipeline` per replica, styles multiplexed, requests batched.

Per replica:
- `engine.hot_styles` styles are "models" of `@serve.multiplexed` (least recently used evicted), so the
  router sends a style's requests where it is already fused;
- `@serve.batch` forms batches sized in images (a request for 4 candidates counts 4), waiting up to
  `engine.max_wait_ms`; Serve runs per-style sub-batches concurrently, so one lock guards style switch +
  generate, and the blocking pipeline call runs in a thread, off the replica's event loop;
- post-processing (matting, outline, WebP) runs on a thread pool after the lock is released, so it
  overlaps the next batch's drawing (`max_concurrent_batches` ≥ 2); the replica returns finished stickers;
- taught subjects: a request carries the subject LoRA's digest and object-store reference
  (`generator.serve.subjects`); the replica keeps the file in a node-local content-addressed cache and
  draws the dynamic style "style+<sha256>" (the multiplexed model id) as the local engine does;
- `animate`: the local engine's AnimateDiff code (`DiffusionClips`) over the replica's fused UNet, with
  the motion adapter named by `model.motion_adapter` on the replica;
- `check_health` fails once the pipeline is broken (e.g. a CUDA error), so Serve replaces the replica.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import ray
from ray import serve
from ray.serve.handle import DeploymentHandle

from generator.api import (
    AnimationResult,
    EngineStats,
    GenerationFailed,
    GenerationRequest,
    GenerationResult,
    GeneratorError,
    InvalidRequest,
    Sticker,
    StyleSummary,
)
from generator.options import EngineConfig, ModelConfig
from generator.scheduling import BatchKey
from generator.serve.subjects import SubjectCache
from generator.serve.wire import RemoteFailure, ReplicaStatus, SubjectLora
from generator.subject_styles import MAX_SUBJECT_STYLES, subject_content_style_name
from generator.validation import validate_request

log = logging.getLogger("ray.serve")

_BROKEN_MARKERS = ("CUDA error", "device-side assert", "illegal memory access", "CUBLAS_STATUS")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Job:
    """One request in a batch, with the style it is drawn in (its own, or "style+<sha256>")."""

    request: GenerationRequest
    style: str


class _HotStyle:
    """What `@serve.multiplexed` holds for a style. Serve calls `__del__` when it evicts the style
    (least recently used); the replica then drops the style's fused copy at its next draw."""

    def __init__(self, name: str, evicted: set[str]) -> None:
        self.name = name
        self._evicted: set[str] | None = evicted

    def __del__(self) -> None:
        if self._evicted is not None:
            self._evicted.add(self.name)
            self._evicted = None


@serve.deployment(name="StickerGenerator")
class StickerGenerator:
    """Options (replicas, resources, queue limits) come from `generator.serve.app.deployment_options`."""

    def __init__(self, model_cfg: ModelConfig, engine_cfg: EngineConfig, board: DeploymentHandle) -> None:
        from generator.animation.engine_clips import DiffusionClips
        from generator.engine import default_postprocess_workers, sticker_finisher
        from generator.pipeline import StickerPipeline
        from generator.styles import StyleRegistry

        self._cfg = engine_cfg
        self._board = board
        registry = StyleRegistry.load(engine_cfg.styles_dir)
        started = time.perf_counter()
        self._pipeline = StickerPipeline.load(model_cfg, registry, hot_styles=engine_cfg.hot_styles)
        if model_cfg.warmup:
            self._pipeline.warmup()
        log.info("sticker pipeline ready in %.1f s", time.perf_counter() - started)
        unavailable = self._pipeline.unavailable
        self._styles = {s.name: s for s in registry.summaries() if s.name not in unavailable}
        matting = {spec.name: spec.matting or engine_cfg.matting for spec in registry}
        self._finish = sticker_finisher(matting, engine_cfg.matting)
        self._post_pool = ThreadPoolExecutor(default_postprocess_workers(), thread_name_prefix="sticker-post")
        self._lock = asyncio.Lock()  # style switch + generate: one pipeline call at a time
        self._hot: OrderedDict[str, None] = OrderedDict()
        self._subjects = SubjectCache()
        self._subject_styles: OrderedDict[str, tuple[str, str]] = OrderedDict()  # name -> (style, file)
        self._clips = DiffusionClips(
            model_cfg.motion_adapter,
            local_files_only=model_cfg.local_files_only,
            frames=model_cfg.motion_frames,
        )
        self._evicted: set[str] = set()
        self._broken: str | None = None
        self._stats = EngineStats()
        self._seq = 0
        context = serve.get_replica_context()
        self._replica = context.replica_id.unique_id
        self._actor_name = ray.get_runtime_context().get_actor_name() or ""

        # The decorators take the config's numbers, so they are applied here (Serve detects
        # multiplexing wired up at init time); multiplexed needs a function it can tag, not a bound method.
        async def load_style(style: str) -> _HotStyle:
            return await self._load_style(style)

        self._hot_style = serve.multiplexed(max_num_models_per_replica=engine_cfg.hot_styles)(load_style)
        self._batched = serve.batch(
            max_batch_size=engine_cfg.max_batch_size,
            batch_wait_timeout_s=engine_cfg.max_wait_ms / 1000,
            max_concurrent_batches=max(1, engine_cfg.ray.deployment.max_concurrent_batches),
            batch_size_fn=lambda jobs: sum(job.request.count for job in jobs),
        )(self._generate_batch)
        self._report()

    # ------------------------------------------------------------------ called through handles
    async def generate(
        self, request: GenerationRequest, subject: SubjectLora | None = None
    ) -> GenerationResult | RemoteFailure:
        """One request (with a taught subject's LoRA, `subject`) → finished stickers, or a
        `RemoteFailure` carrying the typed error."""
        entered = time.perf_counter()
        try:
            validate_request(request, self._styles)
            style = await self._style_of(request, subject)
            await self._make_hot(style)
            loaded = time.perf_counter()
            result = await self._batched(_Job(request, style))
            if isinstance(result, GenerationResult):  # time on the replica, for the client's figures
                result.timings_ms["style_load_ms"] = (loaded - entered) * 1000
                result.timings_ms["replica_ms"] = (time.perf_counter() - entered) * 1000
            return result
        except GeneratorError as exc:
            return RemoteFailure.of(exc)
        except Exception as exc:
            log.exception("request %r failed", request.request_id)
            return RemoteFailure.of(
                GenerationFailed("Something went wrong while drawing that sticker.", detail=repr(exc))
            )

    async def animate(
        self, request: GenerationRequest, formats: Sequence[str]
    ) -> AnimationResult | RemoteFailure:
        """A video-diffusion clip (the local engine's code) in the request's fused style, encoded in
        `formats`; without a motion adapter the same one line as locally."""
        try:
            style = validate_request(request, self._styles)
            if request.subject_lora is not None:
                raise InvalidRequest(
                    "Taught subjects cannot be animated with video diffusion yet; try a motion."
                )
            await self._make_hot(request.style)
            steps = request.steps or style.steps or self._cfg.default_steps
            async with self._lock:
                self._forget_evicted()
                frames = await _finish_in_thread(self._animate_frames, request, style, steps)
            loop = asyncio.get_running_loop()
            files = await loop.run_in_executor(
                self._post_pool, _encode_frames, frames, style, request, tuple(formats)
            )
            return AnimationResult(request=request, files=files)
        except GeneratorError as exc:
            return RemoteFailure.of(exc)
        except Exception as exc:
            log.exception("a diffusion animation in style %r failed", request.style)
            return RemoteFailure.of(
                GenerationFailed("Something went wrong while animating that sticker.", detail=repr(exc))
            )

    def styles(self) -> list[StyleSummary]:
        """The styles this replica can serve (those whose LoRAs could be read)."""
        return list(self._styles.values())

    def unavailable_styles(self) -> dict[str, str]:
        """Installed styles this replica cannot run, with the reason for the operator."""
        return {name: exc.detail or exc.user_message for name, exc in self._pipeline.unavailable.items()}

    def status(self) -> ReplicaStatus:
        return ReplicaStatus(
            replica=self._replica,
            actor_name=self._actor_name,
            node=ray.util.get_node_ip_address(),
            pid=os.getpid(),
            device=str(self._pipeline.device),
            hot_styles=tuple(self._hot),
            active_style=self._pipeline.active_style,
            stats=self._stats,
            healthy=self._broken is None,
            updated=time.time(),
        )

    def check_health(self) -> None:
        """Serve calls this every `health_check_period_s`; raising makes Serve replace the replica."""
        self._report()
        if self._broken is not None:
            raise RuntimeError(f"the sticker pipeline is broken: {self._broken}")

    # ------------------------------------------------------------------ styles (multiplexed)
    async def _style_of(self, request: GenerationRequest, subject: SubjectLora | None) -> str:
        """The style to draw in: the request's, or with a taught subject "style+<sha256>" (its LoRA file
        then on this node's disk). Replicas never read the bot's paths."""
        if subject is None:
            if request.subject_lora is not None:
                raise InvalidRequest("A taught subject must come with its LoRA.")
            return request.style
        name = subject_content_style_name(request.style, subject.digest)
        routed = serve.get_multiplexed_model_id()
        if routed and routed != name:
            raise InvalidRequest("That request was routed for another style.", detail=routed)
        path = await self._subjects.path_for(subject)
        self._subject_styles[name] = (request.style, str(path))
        self._subject_styles.move_to_end(name)
        while len(self._subject_styles) > MAX_SUBJECT_STYLES:
            self._subject_styles.popitem(last=False)
        return name

    async def _make_hot(self, style: str) -> None:
        await self._hot_style(style)
        if style in self._hot:
            self._hot.move_to_end(style)  # the same recency as Serve's own LRU

    def _activate(self, style: str) -> float:
        """Fuse `style` (a taught subject's dynamic style is first made ready, as the local engine does)."""
        if style in self._subject_styles:
            self._pipeline.add_subject_style(style, *self._subject_styles[style])
        return float(self._pipeline.activate_style(style))

    def _animate_frames(self, request: GenerationRequest, style: StyleSummary, steps: int) -> list[Any]:
        switch_ms = self._activate(request.style)
        if switch_ms:
            self._stats.switches += 1
            self._stats.switch_ms.append(switch_ms)
        return self._clips.frames_on_worker(self._pipeline, request, style, steps)

    async def _load_style(self, style: str) -> _HotStyle:
        """A multiplex miss: fuse the style's weights now (under the lock), so batches find it hot."""
        async with self._lock:
            self._forget_evicted()
            switch_ms = await _finish_in_thread(self._activate, style)
        self._stats.switches += 1
        self._stats.switch_ms.append(switch_ms)
        self._hot[style] = None
        self._report()
        return _HotStyle(style, self._evicted)

    def _forget_evicted(self) -> None:
        """Drop fused copies of styles Serve evicted (called under the lock)."""
        while self._evicted:
            name = self._evicted.pop()
            self._hot.pop(name, None)
            self._pipeline.forget_style(name)

    # ------------------------------------------------------------------ batches
    async def _generate_batch(self, jobs: list[_Job]) -> list[GenerationResult | RemoteFailure]:
        """Serve's batch (one style since ray PR #59334); split further by size and steps."""
        requests = [job.request for job in jobs]
        groups: dict[BatchKey, list[int]] = {}
        for index, job in enumerate(jobs):
            request = job.request
            style = self._styles[request.style]
            steps = request.steps or style.steps or self._cfg.default_steps
            groups.setdefault(BatchKey(job.style, request.width, request.height, steps), []).append(index)
        results: list[Any] = [None] * len(requests)
        finishing = []
        for key, indices in groups.items():
            batch = [requests[i] for i in indices]
            try:
                images, timings = await self._draw(key, batch)
            except GeneratorError as exc:
                for i in indices:
                    results[i] = RemoteFailure.of(exc)
                continue
            finishing.append(self._finish_group(batch, indices, images, timings, results))
        await asyncio.gather(*finishing)
        self._report()
        return results

    async def _draw(
        self, key: BatchKey, batch: list[GenerationRequest]
    ) -> tuple[list[Any], dict[str, float]]:
        prompts = [r.prompt for r in batch for _ in range(r.count)]
        negatives = [
            (self._styles[r.style].negative_prompt if r.negative_prompt is None else r.negative_prompt)
            for r in batch
            for _ in range(r.count)
        ]
        seeds = [seed for r in batch for seed in r.seeds()]
        queued = time.perf_counter()
        async with self._lock:
            self._forget_evicted()
            started = time.perf_counter()
            try:
                switch_ms, images = await _finish_in_thread(
                    self._switch_and_run, key, prompts, negatives, seeds
                )
            except GeneratorError:
                self._stats.failed_batches += 1
                raise
            except Exception as exc:
                self._stats.failed_batches += 1
                if any(marker in str(exc) for marker in _BROKEN_MARKERS):
                    self._broken = repr(exc)
                log.exception("a batch of %d image(s) in style %r failed", len(prompts), key.style)
                raise GenerationFailed(
                    "Something went wrong while drawing that sticker.", detail=repr(exc)
                ) from exc
            done = time.perf_counter()
        self._seq += 1
        self._stats.batches += 1
        self._stats.images += len(prompts)
        self._stats.batch_sizes.append(len(prompts))
        if switch_ms:
            self._stats.switches += 1
            self._stats.switch_ms.append(switch_ms)
        timings = {
            "queue_ms": (started - queued) * 1000,
            "switch_ms": switch_ms,
            "generate_ms": (done - started) * 1000 - switch_ms,
            "batch_images": float(len(prompts)),
        }
        return images, timings

    def _switch_and_run(
        self, key: BatchKey, prompts: list[str], negatives: list[str], seeds: list[int]
    ) -> tuple[float, list[Any]]:
        switch_ms = self._activate(key.style)
        images = self._pipeline.run(prompts, negatives, seeds, key.steps, key.width, key.height)
        if len(images) != len(prompts):
            raise RuntimeError(f"pipeline returned {len(images)} images for {len(prompts)} prompts")
        return switch_ms, images

    async def _finish_group(
        self,
        batch: list[GenerationRequest],
        indices: list[int],
        images: list[Any],
        timings: dict[str, float],
        results: list[Any],
    ) -> None:
        loop = asyncio.get_running_loop()
        offset = 0
        for index, request in zip(indices, batch, strict=True):
            style = self._styles[request.style]
            started = time.perf_counter()
            try:
                encoded = await asyncio.gather(
                    *(
                        loop.run_in_executor(self._post_pool, self._finish, image, style, request)
                        for image in images[offset : offset + request.count]
                    )
                )
                stickers = tuple(
                    _sticker(data, seed) for data, seed in zip(encoded, request.seeds(), strict=True)
                )
                done = dict(timings, postprocess_ms=(time.perf_counter() - started) * 1000)
                results[index] = GenerationResult(request=request, stickers=stickers, timings_ms=done)
            except Exception as exc:
                log.exception("post-processing failed for request %r", request.request_id)
                results[index] = RemoteFailure.of(
                    GenerationFailed("Something went wrong while finishing that sticker.", detail=repr(exc))
                )
            offset += request.count

    def _report(self) -> None:
        """Fire-and-forget: the board is a convenience for operators, never in a request's way."""
        try:
            self._board.report.remote(self.status())
        except Exception:
            log.debug("status report failed", exc_info=True)


async def _finish_in_thread(func: Callable[..., T], *args: Any) -> T:
    """`asyncio.to_thread`, but a cancelled caller (a request cancelled by its client) still waits for
    the thread: the pipeline lock its caller holds must not be released while the pipeline runs."""
    task = asyncio.ensure_future(asyncio.to_thread(func, *args))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                continue
            except Exception:
                break
        raise


def _encode_frames(
    frames: list[Any], style: StyleSummary, request: GenerationRequest, formats: tuple[str, ...]
) -> dict[str, bytes]:
    from generator.animation.engine_clips import encode_frames

    return encode_frames(frames, style, request, formats)


def _sticker(data: bytes, seed: int) -> Sticker:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
    return Sticker(webp=data, seed=seed, width=width, height=height)
