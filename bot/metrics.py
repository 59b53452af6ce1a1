"""Prometheus metrics for operators: requests, generations, queue length, errors, latency.

Each `Metrics` owns its registry (several services can live in one test process). The HTTP
endpoint is off by default (`metrics.enabled`); it binds to 127.0.0.1 unless configured otherwise.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from generator.api import StickerEngine

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "stickerbot_requests", "Sticker requests received", ["platform", "kind"], registry=r
        )
        self.replies = Counter(
            "stickerbot_replies", "Replies by outcome (ok or an error kind)", ["outcome"], registry=r
        )
        self.errors = Counter("stickerbot_errors", "Error replies by kind", ["kind"], registry=r)
        self.cache_hits = Counter("stickerbot_cache_hits", "Requests answered from the cache", registry=r)
        self.generation_jobs = Counter(
            "stickerbot_generation_jobs",
            "Generation jobs sent to the engine (requests that missed the cache; the engine batches them)",
            ["style"],
            registry=r,
        )
        self.stickers = Counter("stickerbot_stickers_generated", "Stickers generated", registry=r)
        self.latency = Histogram(
            "stickerbot_request_seconds",
            "Time from request to reply",
            ["outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.generation_latency = Histogram(
            "stickerbot_generation_seconds",
            "Time inside the engine per job",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.wait_latency = Histogram(
            "stickerbot_admission_wait_seconds",
            "Time waiting for an engine slot",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_length = Gauge(
            "stickerbot_queue_length", "Requests waiting (fair line + engine queue)", registry=r
        )
        self.in_flight = Gauge("stickerbot_in_flight", "Requests being generated", registry=r)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def track_queue(self, length: Callable[[], float], in_flight: Callable[[], float]) -> None:
        self.queue_length.set_function(length)
        self.in_flight.set_function(in_flight)

    def track_engine(self, engine: StickerEngine) -> None:
        """Export the engine's own counters (real micro-batches, images, style switches)."""
        self.registry.register(_EngineStatsCollector(engine))

    def render(self) -> bytes:
        """The text exposition format (what the endpoint serves)."""
        return generate_latest(self.registry)

    def serve(self, host: str, port: int) -> int:
        """Start the HTTP endpoint in a background thread; returns the bound port."""
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        bound = int(self._server.server_address[1])
        log.info("metrics endpoint on http://%s:%d/metrics", host, bound)
        return bound

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _EngineStatsCollector(Collector):
    """Reads `engine.stats()` (batches, images, failed_batches, switches) at scrape time."""

    _FIELDS = (
        ("batches", "stickerbot_engine_batches", "Micro-batches the engine ran"),
        ("images", "stickerbot_engine_images", "Images the engine generated"),
        ("failed_batches", "stickerbot_engine_failed_batches", "Micro-batches that failed"),
        ("switches", "stickerbot_engine_style_switches", "Style switches (fused UNet swaps)"),
    )

    def __init__(self, engine: StickerEngine) -> None:
        self._engine = engine

    def collect(self) -> Any:
        stats = self._engine.stats()
        for attr, name, doc in self._FIELDS:
            yield CounterMetricFamily(name, doc, value=getattr(stats, attr))
