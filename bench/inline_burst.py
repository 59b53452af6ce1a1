"""Telegram inline answers under a burst: how many queries get at least one sticker by the deadline.

`python -m bench.inline_burst [--queries 16] [--deadline 3] [--rounds 2]`

N users type an inline query at the same moment; the real python-telegram-bot adapter and the real
`StickerService` answer them against the fake Bot API of the test suite, with the real engine on the
tiny model. Both inline strategies run in alternating rounds on the same engine: the first candidate
alone and then the other three (`AdapterOptions.inline_first_alone`, the default) and all four in
one request (before). Printed per strategy: queries answered with ≥ 1 sticker at the deadline, and
the stickers per answer. Every round uses new words, so nothing comes from the cache. Needs a source
checkout (the fake server lives in `tests/fakes/`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.fixtures import write_style
from bench.report import machine_info

STYLE = "otter"
FIRST_USER = 7000


@dataclass
class Tally:
    queries: int = 0
    answered_with_stickers: int = 0
    stickers: list[int] = field(default_factory=list)

    def line(self, name: str) -> str:
        share = self.answered_with_stickers / self.queries if self.queries else 0.0
        mean = sum(self.stickers) / len(self.stickers) if self.stickers else 0.0
        return (
            f"{name:<22} {self.answered_with_stickers:>3}/{self.queries:<3} answers with >= 1 sticker "
            f"({share:.0%}), {mean:.2f} stickers per answer"
        )


async def _round(engine, first_alone: bool, queries: int, deadline_s: float, words: str) -> Tally:  # type: ignore[no-untyped-def]
    from adapters.telegram import AdapterOptions
    from bench.roundtrip import telegram_bot

    tally = Tally()
    options = AdapterOptions(stop_grace_s=30.0, inline_first_alone=first_alone)
    async with telegram_bot(engine, options, inline_deadline_s=deadline_s) as (api, service):
        await engine.wait_ready()  # the model is loaded and warm before the burst
        ids = [api.inline_update(FIRST_USER + i, f"{words} otter {i}") for i in range(queries)]
        await api.wait_calls("answerInlineQuery", queries, within_s=deadline_s + 30)
        for call in api.calls_of("answerInlineQuery"):
            if call.params["inline_query_id"] in ids:
                tally.queries += 1
                count = len(call.params["results"])
                tally.stickers.append(count)
                tally.answered_with_stickers += count > 0
        async with asyncio.timeout(300):  # let the late candidates finish before the next round
            while service.active_requests or engine.queue_length():  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    return tally


async def measure(queries: int, deadline_s: float, rounds: int) -> dict[str, Tally]:
    from generator.engine import build_engine
    from generator.options import EngineConfig, ModelConfig
    from generator.tiny import save_tiny_pipeline

    tallies = {"first alone, then 3": Tally(), "all 4 at once (before)": Tally()}
    with tempfile.TemporaryDirectory(prefix="stickerbot-inline-model-") as tmp:
        root = Path(tmp)
        model_dir = save_tiny_pipeline(root / "tiny-model")
        write_style(root / "styles", STYLE)
        model_cfg = ModelConfig(path=str(model_dir), local_files_only=True, warmup=True)
        engine_cfg = EngineConfig(styles_dir=str(root / "styles"), default_style=STYLE)
        for r in range(rounds):
            order = list(tallies) if r % 2 == 0 else list(reversed(tallies))
            for name in order:
                engine = build_engine(model_cfg, engine_cfg)
                got = await _round(
                    engine, name.startswith("first"), queries, deadline_s, f"round {r} {name[:3]}"
                )
                total = tallies[name]
                total.queries += got.queries
                total.answered_with_stickers += got.answered_with_stickers
                total.stickers += got.stickers
                print(got.line(f"round {r + 1}: {name}"), flush=True)
    return tallies


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.inline_burst", description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=16, help="inline queries in the burst (default 16)")
    parser.add_argument("--deadline", type=float, default=3.0, help="telegram.inline_deadline_s (default 3)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per strategy, alternating (default 2)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    info = machine_info()
    print(f"machine: {info}", flush=True)
    print(f"burst of {args.queries} inline queries, deadline {args.deadline:g} s, tiny model", flush=True)
    tallies = asyncio.run(measure(args.queries, args.deadline, args.rounds))
    print()
    for name, tally in tallies.items():
        print(tally.line(name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
