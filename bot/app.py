"""The composition root: config → engine → service → adapters, in one asyncio loop.

`run_app(config)` starts everything, waits for SIGINT/SIGTERM, then shuts down gracefully:
the service stops taking new requests (late ones get a short "restarting" reply), adapters
stop taking events and deliver what is in flight, in-flight requests get
`limits.shutdown_grace_s` to finish (then an error reply), and finally the engine and the
database close. A second signal skips the wait.

Adapters are imported by name (`adapters.<name>`) so `bot/` never imports a chat library;
each exposes `create_adapter(section_config, service, app_config) -> Adapter`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from bot.config import AppConfig, ConfigError
from bot.platforms import FIRST_RETRY_S, MAX_RETRY_S, PlatformStarter
from bot.ports import PORT_KEYS, port_key
from bot.service import StickerService
from bot.state import SharedState, open_shared_state
from bot.teaching.wiring import attach_teaching
from bot.types import Adapter
from generator.api import StickerEngine

log = logging.getLogger(__name__)

ADAPTER_NAMES = ("web", "telegram", "discord")


def enabled_adapters(config: AppConfig) -> list[str]:
    return [name for name in ADAPTER_NAMES if getattr(config, name).enabled]


def default_engine(config: AppConfig) -> StickerEngine:
    """The local engine, or the Ray Serve client with `engine.backend: ray` (the service can't tell)."""
    if config.engine.backend == "ray":
        from generator.serve import require_ray

        require_ray()
        from generator.serve.client import RayEngine

        return RayEngine(config.model, config.engine)
    from generator.engine import build_engine

    return build_engine(config.model, config.engine)


class App:
    """Owns the running pieces. `start()` then `stop()`; or `run(stop_event)` for both."""

    def __init__(
        self,
        config: AppConfig,
        *,
        engine: StickerEngine | None = None,
        engine_factory: Callable[[AppConfig], StickerEngine] = default_engine,
        adapter_modules: Mapping[str, ModuleType | Any] | None = None,
        platform_retry_s: tuple[float, float] = (FIRST_RETRY_S, MAX_RETRY_S),
    ) -> None:
        self.config = config
        self.engine = engine
        self._engine_factory = engine_factory
        self._adapter_modules = dict(adapter_modules or {})
        self.service: StickerService | None = None
        self.state: SharedState | None = None
        self.adapters: list[Adapter] = []
        self._engine_started = False
        self._stopped = False
        self._housekeeping: asyncio.Task[None] | None = None
        self.platforms = PlatformStarter(*platform_retry_s)

    def _adapter_module(self, name: str) -> Any:
        if name in self._adapter_modules:
            return self._adapter_modules[name]
        try:
            return importlib.import_module(f"adapters.{name}")
        except ImportError as exc:
            raise ConfigError(
                f"{name}: the adapter package adapters.{name} cannot be imported ({exc})"
            ) from exc

    async def start(self) -> None:
        names = enabled_adapters(self.config)
        # Import adapters first: importing registers their database migrations.
        modules = {name: self._adapter_module(name) for name in names}
        try:
            if self.engine is None:
                self.engine = self._engine_factory(self.config)
            self.state = await open_shared_state(self.config)
            self.service = await StickerService.create(self.config, self.engine, state=self.state)
            await attach_teaching(self.service)
            self._housekeeping = asyncio.create_task(self.service.run_housekeeping(), name="housekeeping")
            await self.engine.start()
            self._engine_started = True
            if self.config.metrics.enabled:
                with port_key("metrics.port", self.config):
                    self.service.metrics.serve(self.config.metrics.host, self.config.metrics.port)
            for name, module in modules.items():
                adapter = module.create_adapter(getattr(self.config, name), self.service, self.config)
                with port_key(PORT_KEYS.get(name, f"{name}.port"), self.config):
                    await self.platforms.start(name, adapter)  # unreachable: retried in the background
                self.adapters.append(adapter)
        except BaseException:
            await self.stop()
            raise
        log.info(
            "stickerbot running: adapters=%s%s styles=%s storage=%s",
            ",".join(n for n in names if n not in self.platforms.retrying) or "none",
            f" (retrying: {','.join(sorted(self.platforms.retrying))})" if self.platforms.retrying else "",
            ",".join(s.name for s in self.service.styles()),
            self.config.storage.url.split("@")[-1],
        )

    async def stop(self) -> None:
        """Graceful shutdown; safe to call more than once and after a failed start."""
        if self._stopped:
            return
        self._stopped = True
        grace = self.config.limits.shutdown_grace_s
        service = self.service
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            await asyncio.wait({self._housekeeping})
        await self.platforms.stop()
        if service is not None:
            service.begin_shutdown()
        log.info("shutting down: %d request(s) in flight", service.active_requests if service else 0)
        waits: list[Any] = [self._stop_adapter(a, grace) for a in reversed(self.adapters)]
        if service is not None:
            waits.append(self._finish_requests(service, grace))
        await asyncio.gather(*waits, return_exceptions=True)
        if service is not None:
            await service.close()
            service.metrics.stop()
        if self.state is not None:
            await self.state.close()
        if self.engine is not None and self._engine_started:
            await self._close_engine()
        log.info("stopped")

    @staticmethod
    async def _finish_requests(service: StickerService, grace: float) -> None:
        """In-flight requests get `grace` seconds; then whatever is left gets a "restarting" reply,
        while the adapters are still connected to deliver it."""
        if not await service.drain(grace):
            await service.abort()

    async def _close_engine(self) -> None:
        assert self.engine is not None
        if not self._engine_started:
            return
        self._engine_started = False
        try:  # bounded: a hung model call must not keep SIGTERM from ending the process
            await self.engine.close(timeout_s=self.config.limits.shutdown_grace_s)
        except Exception:
            log.exception("engine close failed")

    @staticmethod
    async def _stop_adapter(adapter: Adapter, grace: float) -> None:
        try:
            await asyncio.wait_for(adapter.stop(), grace + 10.0)
        except Exception:
            log.exception("adapter %s did not stop cleanly", getattr(adapter, "name", adapter))

    async def run(self, stop: asyncio.Event | None = None, *, handle_signals: bool = True) -> None:
        """Start, wait for `stop` (or SIGINT/SIGTERM), then stop."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        main = asyncio.current_task()

        def on_signal(sig: signal.Signals) -> None:
            if stop.is_set():
                log.warning("second %s: stopping now", sig.name)
                if main is not None:
                    main.cancel()
                return
            log.info("%s received: shutting down gracefully", sig.name)
            stop.set()

        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, on_signal, sig)
                    installed.append(sig)
        try:
            await self.start()
            await stop.wait()
        finally:
            try:
                await self.stop()
            finally:
                for sig in installed:
                    loop.remove_signal_handler(sig)


async def run_app(config: AppConfig, *, engine: StickerEngine | None = None) -> None:
    await App(config, engine=engine).run()
