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
    args = parser.parse_args()
    config = load_config(args.config)
    configure_logging(config.logging, secrets=secret_values(config))
    engine = FakeEngine(delay_s=args.delay, max_batch=64, queue_size=10_000)
    try:
        asyncio.run(App(config, engine=engine).run())
    except asyncio.CancelledError:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
