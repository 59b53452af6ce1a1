"""`python -m tests.fakes.bot_process --config FILE [--delay S]`: `stickerbot run` with the fast fake engine.

The same start-up and shutdown path as `stickerbot run` (config, logging, `App.run` with signal
handling); only the engine is `tests.fakes.fake_engine.FakeEngine`, so several real bot processes fit
on a small machine and the bot tier's own costs show.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.app import App
from bot.config import load_config, secret_values
from bot.logs import configure_logging
from tests.fakes.fake_engine import FakeEngine


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds each fake generation takes")
    parser.add_argument(
        "--prerendered", action="store_true", help="reuse 16 pre-made stickers (benchmarks of the bot tier)"
    )
    args = parser.parse_args()
    if args.prerendered:
        _prerender()
    config = load_config(args.config)
    configure_logging(config.logging, secrets=secret_values(config))
    engine = FakeEngine(delay_s=args.delay, max_batch=64, queue_size=10_000)
    try:
        asyncio.run(App(config, engine=engine).run())
    except asyncio.CancelledError:
        return 130
    return 0


def _prerender() -> None:
    """Each fake sticker costs ~80 ms of WebP encoding; a benchmark of the bot tier should not count it."""
    from generator.api import Sticker
    from tests.fakes import fake_engine

    made = [fake_engine.fake_sticker(f"bench {k}", k) for k in range(16)]

    def quick(prompt: str, seed: int) -> Sticker:
        return Sticker(webp=made[seed % 16].webp, seed=seed, width=512, height=512)

    fake_engine.fake_sticker = quick  # type: ignore[assignment]


if __name__ == "__main__":
    sys.exit(main())
