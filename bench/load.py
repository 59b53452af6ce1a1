"""`python -m bench.load`: the web room under a bounded burst of N clients, each asking for stickers.

Starts the real web adapter and `StickerService` on 127.0.0.1 (SQLite in a temporary folder) with
the test suite's FakeEngine (`--engine fake`, default: 50 ms per batch of 4, drawn in a thread) or
the tiny random-weight SDXL model (`--engine tiny`, for smaller bursts: on 2 shared CPU cores it
draws about one sticker a second). Every client comes from its own
address (X-Forwarded-For through a trusted proxy, as behind nginx), joins one of `--rooms` rooms and
sends `--requests` sticker requests at once. Printed: requests answered with a sticker, answered
with a clear refusal (a notice such as "Slow down" or "One moment"), unanswered by `--deadline-s`,
p50/p95 time to the answer, resident memory before/after/peak, and bytes each client received.
Needs a source checkout (the FakeEngine and the service factory live in `tests/fakes/`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.report import peak_rss_mb, percentile

STYLE = "otter"


@dataclass
class ClientResult:
    stickers: int = 0
    refusals: list[str] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)
    bytes_received: int = 0
    joined: bool = False


def rss_mb() -> float:
    """Current resident memory of this process (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


async def run_client(
    url: str, index: int, rooms: int, requests: int, deadline_s: float, start: asyncio.Event
) -> ClientResult:
    result = ClientResult()
    headers = {"X-Forwarded-For": f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"}
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{url}/ws", headers=headers, max_msg_size=0)
        try:
            await ws.send_str(
                json.dumps({"v": 1, "type": "hello", "name": f"c{index}", "room": f"r{index % rooms}"})
            )
            me: str | None = None
            answered = 0
            await start.wait()
            began = time.monotonic()
            while time.monotonic() - began < deadline_s and answered < requests:
                try:
                    msg = await ws.receive(timeout=max(0.01, deadline_s - (time.monotonic() - began)))
                except TimeoutError:
                    break
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                result.bytes_received += len(msg.data.encode())
                frame: dict[str, Any] = json.loads(msg.data)
                kind = frame["type"]
                if kind == "welcome":
                    me = frame["you"]["id"]
                    result.joined = True
                    for i in range(requests):
                        await ws.send_str(
                            json.dumps({"v": 1, "type": "sticker", "prompt": f"otter {index} {i}"})
                        )
                    began = time.monotonic()
                elif kind == "error":
                    result.refusals.append(frame["text"])
                    answered = requests
                elif kind == "notice" and frame.get("level") == "error":
                    result.refusals.append(frame["text"])
                    result.latencies_s.append(time.monotonic() - began)
                    answered += 1
                elif kind == "message" and frame["message"]["kind"] == "sticker":
                    if frame["message"]["author"]["id"] == me:
                        result.stickers += 1
                        result.latencies_s.append(time.monotonic() - began)
                        answered += 1
        finally:
            await ws.close()
    return result


async def run_load(args: argparse.Namespace) -> dict[str, Any]:
    from adapters.web import create_adapter
    from bot.config import AppConfig, WebConfig
    from tests.fakes.service_factory import make_service

    with tempfile.TemporaryDirectory(prefix="stickerbot-load-") as tmp:
        engine = await _engine(args.engine, Path(tmp))
        web = WebConfig(
            port=0,
            trusted_proxy_header="X-Forwarded-For",
            trusted_proxies=["127.0.0.1"],
            max_connections=max(1000, args.clients * 2),
        )
        service = await make_service(Path(tmp), engine, AppConfig(web=web))
        if args.engine == "tiny":
            await _wait_ready(engine)
        adapter = create_adapter(web, service, service.config)
        await adapter.start()
        url = adapter.url
        rss_before = rss_mb()
        start = asyncio.Event()
        began = time.monotonic()
        try:
            tasks = [
                asyncio.create_task(run_client(url, i, args.rooms, args.requests, args.deadline_s, start))
                for i in range(args.clients)
            ]
            await asyncio.sleep(0.2)
            start.set()
            results = await asyncio.gather(*tasks)
            wall_s = time.monotonic() - began
            await asyncio.sleep(0.5)
            rss_after = rss_mb()
        finally:
            await adapter.stop()
            await service.close()
    asked = args.clients * args.requests
    stickers = sum(r.stickers for r in results)
    refusals = [t for r in results for t in r.refusals]
    latencies = [t for r in results for t in r.latencies_s]
    per_client = [r.bytes_received for r in results]
    kinds: dict[str, int] = {}
    for text in refusals:
        kinds[text] = kinds.get(text, 0) + 1
    return {
        "engine": args.engine,
        "clients": args.clients,
        "requests_per_client": args.requests,
        "rooms": args.rooms,
        "asked": asked,
        "answered_sticker": stickers,
        "answered_refusal": len(refusals),
        "unanswered": asked - stickers - len(refusals),
        "refusals": kinds,
        "p50_s": round(percentile(latencies, 50), 3) if latencies else None,
        "p95_s": round(percentile(latencies, 95), 3) if latencies else None,
        "max_s": round(max(latencies), 3) if latencies else None,
        "wall_s": round(wall_s, 2),
        "rss_before_mb": round(rss_before, 1),
        "rss_after_mb": round(rss_after, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "bytes_per_client_mean": round(sum(per_client) / len(per_client)),
        "bytes_per_client_max": max(per_client),
    }


async def _engine(kind: str, root: Path) -> Any:
    if kind == "fake":
        return _threaded_fake_engine()
    from bench.fixtures import write_style
    from generator.engine import build_engine
    from generator.options import EngineConfig, ModelConfig
    from generator.tiny import save_tiny_pipeline

    model_dir = save_tiny_pipeline(root / "tiny-model")
    write_style(root / "styles", STYLE)
    model_cfg = ModelConfig(path=str(model_dir), local_files_only=True, warmup=True)
    return build_engine(model_cfg, EngineConfig(styles_dir=str(root / "styles"), default_style=STYLE))


def _threaded_fake_engine() -> Any:
    """The test suite's FakeEngine, drawing (a PIL WebP encode) in a worker thread as the real engine
    does, so the server's event loop is measured, not the fake's drawing."""
    from generator.api import GenerationRequest, GenerationResult, PositionCallback
    from tests.fakes.fake_engine import FakeEngine, fake_sticker

    class ThreadedFakeEngine(FakeEngine):
        async def generate(
            self, request: GenerationRequest, on_position: PositionCallback | None = None
        ) -> GenerationResult:
            async with self._slots:
                if on_position is not None:
                    await asyncio.to_thread(lambda: None)  # yield like a queue hop
                await asyncio.sleep(self.delay_s)
                stickers = await asyncio.to_thread(
                    lambda: tuple(fake_sticker(request.prompt, s) for s in request.seeds())
                )
                self.ran.append(request)
                return GenerationResult(request=request, stickers=stickers)

    return ThreadedFakeEngine(delay_s=0.05, max_batch=4, queue_size=10_000)


async def _wait_ready(engine: Any, within_s: float = 300.0) -> None:
    began = time.monotonic()
    while not getattr(engine, "ready", True):
        if getattr(engine, "load_error", None) is not None:
            raise SystemExit(f"the tiny model did not load: {engine.load_error}")
        if time.monotonic() - began > within_s:
            raise SystemExit("the tiny model did not load in time")
        await asyncio.sleep(0.1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clients", type=int, default=50, help="WebSocket clients, one address each (default 50)"
    )
    parser.add_argument(
        "--requests", type=int, default=4, help="sticker requests per client, sent at once (4)"
    )
    parser.add_argument("--rooms", type=int, default=5, help="rooms the clients spread over (default 5)")
    parser.add_argument(
        "--engine",
        choices=("fake", "tiny"),
        default="fake",
        help="fake: FakeEngine, 50 ms a batch of 4 (default; the tiny model draws ~0.5-2 stickers/s on 2 "
        "shared cores, too slow for the default burst); tiny: the tiny random-weight SDXL model",
    )
    parser.add_argument(
        "--deadline-s", type=float, default=120.0, help="a request unanswered by then counts so"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import logging

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    figures = asyncio.run(run_load(args))
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    return 0 if figures["unanswered"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
