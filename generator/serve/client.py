"""`RayEngine`: the `StickerEngine` of a bot whose stickers are drawn on a Ray Serve cluster.

It lives in `generator/` next to the deployment it calls: the two halves of one wire contract
(`generator.serve.wire`) change together, and `bot/` only picks an engine factory, so the service
cannot tell a local engine from this one. It imports neither torch nor diffusers.

- `generate`: `await handle.options(multiplexed_model_id=style).generate.remote(request)`; Ray's failures
  become the usual typed errors (back-pressure → `Overloaded`; a replica that died → one retry, then
  `GenerationFailed`; the deadline → `GenerationTimeout` with the Ray call cancelled).
- A taught subject's LoRA (`request.subject_lora`, a file the bot chose) is read here once, checked,
  and put in Ray's object store; the request carries its digest and reference, and is routed with the
  multiplexed model id "style+<sha256>" (`generator.serve.subjects`).
- `animate`: the replica runs the local engine's AnimateDiff code over its fused style and returns the
  encoded files, with the same timeout, cancellation and error mapping as `generate`.
- An unreachable cluster does not stop the bot: `start` returns, `health()` reports `EngineUnavailable`
  (logged once), and a background task reconnects with exponential backoff.
- `styles()` is what the cluster's replicas can serve (refreshed while connected), not the bot's disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from generator.api import (
    AnimationResult,
    EngineClosed,
    EngineHealth,
    EngineStats,
    EngineUnavailable,
    GenerationFailed,
    GenerationRequest,
    GenerationResult,
    GenerationTimeout,
    GeneratorError,
    InvalidRequest,
    Overloaded,
    PositionCallback,
    StickerEngine,
    StyleSummary,
)
from generator.options import EngineConfig, ModelConfig
from generator.serve import require_ray
from generator.serve.subjects import SubjectShipper
from generator.serve.wire import RemoteFailure, ReplicaStatus, SubjectLora
from generator.subject_styles import subject_content_style_name
from generator.validation import validate_request

log = logging.getLogger(__name__)

REFRESH_S = 5.0
"""While connected: how often the style list and the replicas' counters are refreshed."""


class RayEngine(StickerEngine):
    def __init__(
        self, model_cfg: ModelConfig, engine_cfg: EngineConfig, *, first_attempt_s: float = 20.0
    ) -> None:
        self._model_cfg = model_cfg
        self._cfg = engine_cfg
        self._ray_cfg = engine_cfg.ray
        self._first_attempt_s = first_attempt_s
        self._handle: Any = None
        self._board: Any = None
        self._styles: dict[str, StyleSummary] = {}
        self._style_problems: dict[str, str] = {}
        self._replicas: list[ReplicaStatus] = []
        self._error: GeneratorError | None = None
        self._watch: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._attempted = asyncio.Event()  # the first connection attempt is over (either way)
        self._owns_ray = False
        self._deployed = False
        self._closed = False
        self._subjects = SubjectShipper()
        self.retries = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Connect (waiting at most `first_attempt_s`), then keep the connection in the background."""
        require_ray()
        if self._watch is not None:
            return
        self._closed = False
        self._watch = asyncio.create_task(self._keep_connected(), name="ray-engine-connection")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._first_attempt_s):
                await self._attempted.wait()

    async def close(self, timeout_s: float | None = None) -> None:
        """Stop reconnecting; requests in flight on the cluster finish there (nothing to abandon here)."""
        self._closed = True
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.wait({self._watch})
            self._watch = None
        self._handle = None
        self._connected.clear()
        if self._owns_ray:
            import ray

            await asyncio.to_thread(ray.shutdown)
            self._owns_ray = False

    async def wait_connected(self, timeout_s: float) -> None:
        """For tests and tools: wait until the cluster has answered."""
        async with asyncio.timeout(timeout_s):
            await self._connected.wait()

    # ------------------------------------------------------------------ the contract
    def styles(self) -> Sequence[StyleSummary]:
        return list(self._styles.values())

    def unavailable_styles(self) -> Mapping[str, str]:
        return dict(self._style_problems)

    def queue_length(self) -> int:
        """Requests wait in the cluster's queues, shared by every bot; only the bot's own line counts here."""
        return 0

    def health(self) -> EngineHealth:
        if self._connected.is_set():
            return EngineHealth(ready=True)
        return EngineHealth(ready=False, error=self._error)

    def stats(self) -> EngineStats:
        """The cluster's totals, summed over the replicas' last reports to the status board."""
        total = EngineStats()
        for replica in self._replicas:
            total.batches += replica.stats.batches
            total.images += replica.stats.images
            total.failed_batches += replica.stats.failed_batches
            total.switches += replica.stats.switches
            total.batch_sizes.extend(replica.stats.batch_sizes)
            total.switch_ms.extend(replica.stats.switch_ms)
        return total

    def replicas(self) -> list[ReplicaStatus]:
        return list(self._replicas)

    async def animate(self, request: GenerationRequest, formats: Sequence[str]) -> AnimationResult:
        """A video-diffusion clip drawn on a replica (routed where the style is hot)."""
        handle = self._ready_handle()
        validate_request(request, self._styles)
        if request.subject_lora is not None:  # as the local engine answers
            raise InvalidRequest("Taught subjects cannot be animated with video diffusion yet; try a motion.")

        def send() -> Any:
            return handle.options(multiplexed_model_id=request.style).animate.remote(request, tuple(formats))

        return await self._call(request, send, "animating that sticker", "That animation took too long.")

    async def generate(
        self, request: GenerationRequest, on_position: PositionCallback | None = None
    ) -> GenerationResult:
        handle = self._ready_handle()
        validate_request(request, self._styles)  # bad input is answered here, without a round trip
        subject: SubjectLora | None = None
        model_id = request.style
        if request.subject_lora is not None:  # the replicas get the bytes, never the bot's path
            subject = await self._subjects.ship(request.subject_lora)
            model_id = subject_content_style_name(request.style, subject.digest)
        sent = dataclasses.replace(request, subject_lora=None) if subject is not None else request
        if on_position is not None:
            result = on_position(0)
            if asyncio.iscoroutine(result):
                await result

        def send() -> Any:
            return handle.options(multiplexed_model_id=model_id).generate.remote(sent, subject)

        out = await self._call(request, send, "drawing that sticker", "Drawing that sticker took too long.")
        return out if subject is None else dataclasses.replace(out, request=request)

    def _ready_handle(self) -> Any:
        if self._closed:
            raise EngineClosed("The sticker engine is shutting down.")
        handle = self._handle
        if handle is None or not self._connected.is_set():
            raise self._unavailable()
        return handle

    async def _call(
        self, request: GenerationRequest, send: Callable[[], Any], doing: str, too_long: str
    ) -> Any:
        """One replica call with the request's deadline (the Ray call is cancelled when it passes, or when
        the caller is cancelled), back-pressure as `Overloaded`, one retry when the replica died."""
        from ray.exceptions import ActorUnavailableError, RayActorError, RayError
        from ray.serve.exceptions import BackPressureError, RequestCancelledError

        timeout_s = request.timeout_s if request.timeout_s is not None else self._cfg.timeout_s
        deadline = asyncio.get_running_loop().time() + timeout_s
        for attempt in (1, 2):
            response = send()
            try:
                async with asyncio.timeout_at(deadline):
                    out = await response
            except TimeoutError:
                response.cancel()
                raise GenerationTimeout(
                    f"{too_long} Please try again.", detail=f"after {timeout_s:g} s"
                ) from None
            except asyncio.CancelledError:
                response.cancel()
                raise
            except BackPressureError:
                raise Overloaded("The sticker engine is busy. Please try again in a moment.") from None
            except (RayActorError, ActorUnavailableError, RequestCancelledError) as exc:
                if attempt == 1:
                    self.retries += 1
                    log.warning(
                        "a generator replica failed during request %r; retrying once: %s",
                        request.request_id,
                        type(exc).__name__,
                    )
                    continue
                raise GenerationFailed(
                    f"Something went wrong while {doing}.", detail=type(exc).__name__
                ) from None
            except RayError as exc:
                log.warning("the Ray cluster failed request %r: %s", request.request_id, exc)
                raise GenerationFailed(f"Something went wrong while {doing}.", detail=repr(exc)) from None
            if isinstance(out, RemoteFailure):
                raise out.error()
            return out
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ connection
    def _unavailable(self) -> GeneratorError:
        if isinstance(self._error, EngineUnavailable):
            return EngineUnavailable(self._error.user_message, detail=self._error.detail)
        return EngineUnavailable("Sticker generation is starting up. Please try again in a moment.")

    async def _keep_connected(self) -> None:
        delay = 1.0
        while not self._closed:
            try:
                await self._connect()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._lost(exc)
                self._attempted.set()
                await self._forget_cluster()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._ray_cfg.reconnect_max_s)
                continue
            delay = 1.0
            try:
                while not self._closed:
                    await asyncio.sleep(REFRESH_S)
                    await self._refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._lost(exc)

    async def _forget_cluster(self) -> None:
        """A cluster this engine joined is left after a failed attempt, so the next one joins afresh (it
        may have restarted). A local Ray it started, or one someone else started here, is kept."""
        if self._owns_ray and self._ray_cfg.address is not None:  # a local Ray of our own stays
            import ray

            await asyncio.to_thread(ray.shutdown)
            self._owns_ray = False
        self._handle = self._board = None
        self._subjects.clear()  # their object-store copies went with the cluster

    def _lost(self, exc: BaseException) -> None:
        where = self._ray_cfg.address or "a local Ray"
        first = self._error is None or self._connected.is_set()
        self._connected.clear()
        self._error = EngineUnavailable(
            "Sticker generation is unavailable right now. Please try again later.",
            detail=f"{type(exc).__name__}: {exc}",
        )
        if first:  # one line per outage, not one per retry
            summary = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            log.warning(
                "generation is unavailable: Ray Serve app %r at %s cannot be reached (%s); "
                "retrying with backoff",
                self._ray_cfg.app,
                where,
                summary,
            )

    async def _connect(self) -> None:
        self._handle, self._board = await asyncio.to_thread(self._handles)
        await self._refresh()
        if self._error is not None:
            log.info("generation is available again: Ray Serve app %r", self._ray_cfg.app)
        self._error = None
        self._connected.set()
        self._attempted.set()

    def _handles(self) -> tuple[Any, Any]:
        """Blocking: join (or, with no address, start) Ray, then find the app's deployments."""
        import ray
        from ray import serve

        if not ray.is_initialized():
            _check_reachable(self._ray_cfg.address)
            if self._ray_cfg.address is None:
                ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
            else:
                ray.init(address=self._ray_cfg.address, logging_level=logging.WARNING, log_to_driver=False)
            self._owns_ray = True
        if self._ray_cfg.address is None and not self._deployed:  # trying it on one machine
            from generator.serve.app import build_app

            serve.run(build_app(self._model_cfg, self._cfg), name=self._ray_cfg.app, route_prefix=None)
            self._deployed = True
        handle = serve.get_deployment_handle(self._ray_cfg.deployment.name, self._ray_cfg.app)
        board = serve.get_deployment_handle("StatusBoard", self._ray_cfg.app)
        serve.get_app_handle(self._ray_cfg.app)  # raises when the app is not deployed
        return handle, board

    async def _refresh(self) -> None:
        async with asyncio.timeout(REFRESH_S * 2):
            styles = await self._handle.styles.remote()
            self._styles = {style.name: style for style in styles}
            self._style_problems = await self._handle.unavailable_styles.remote()
            with contextlib.suppress(Exception):
                self._replicas = await self._board.replicas.remote(stale_after_s=self._stale_after_s())

    def _stale_after_s(self) -> float:
        return 3 * self._ray_cfg.deployment.health_check_period_s + REFRESH_S


def _check_reachable(address: str | None) -> None:
    """Fail fast (one line) when a `host:port` or `ray://host:port` address does not answer: `ray.init`
    would retry for minutes and flood the log. `auto` and a local Ray (None) fail fast by themselves."""
    if address is None or address == "auto":
        return
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return  # not host:port; let Ray judge it
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=3.0):
            pass
    except OSError as exc:
        raise ConnectionError(f"nothing answers at {target} ({exc.strerror or exc})") from None
