"""`stickerbot generate …` (one-shot stickers from the command line) and `stickerbot dev …` commands."""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.commands import animate
from generator.api import MAX_COUNT, GenerationRequest, GenerationResult

if TYPE_CHECKING:
    from bot.config import AppConfig
    from generator.styles import StyleRegistry

CLI_TIMEOUT_S = 3600.0  # a one-shot command may wait long on a slow CPU; Ctrl-C stops it


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `stickerbot generate`."""
    gen = subparsers.add_parser(
        "generate",
        help="make sticker(s) from a prompt and write them as WebP files",
        description="Make stickers from a prompt with the in-process engine (no chat platform needed), "
        'e.g. `stickerbot generate "eating otter" --style otter -o otter.webp` or '
        '`stickerbot generate "sad otter" -n 4 -o out/` (4 candidates from one batched pipeline call).',
    )
    gen.add_argument("prompt", help="what the sticker shows, e.g. 'eating otter'")
    gen.add_argument("--style", help="style name (default: engine.default_style from the config)")
    gen.add_argument(
        "-o",
        "--output",
        help="output file for one sticker, or a directory (created) for several (default: current directory)",
    )
    gen.add_argument(
        "-n", "--count", type=int, default=1, help=f"number of candidates, 1-{MAX_COUNT} (default 1)"
    )
    gen.add_argument(
        "--seed", type=int, help="seed of the first candidate (candidate i uses seed+i); default random"
    )
    gen.add_argument("--steps", type=int, help="denoising steps, 1-4 (default: the style's)")
    gen.add_argument("--no-outline", action="store_true", help="no outline, whatever the style says")
    gen.add_argument("--model", help="hub id or local directory of the model (overrides model.path)")
    gen.add_argument("--config", help="config file (YAML); default: built-in defaults")
    animate.add_generate_option(gen)
    gen.set_defaults(func=_run_generate)


def _run_generate(args: argparse.Namespace) -> int:
    from bot.config import load_config

    config = load_config(args.config)
    if args.model:
        config.model.path = args.model
    config.model.warmup = False  # one request: warming up would only add time
    style_name = args.style or config.engine.default_style
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    count = args.count
    if getattr(args, "animate", None):
        return animate.run_generate_animated(args, config, style_name, seed)
    try:
        targets = _output_paths(args.output, args.prompt, seed, count)
    except ValueError as exc:
        print(f"stickerbot: {exc}", file=sys.stderr)
        return 2
    result = asyncio.run(_generate(config, args, style_name, seed, count))
    for target, sticker in zip(targets, result.stickers, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(sticker.webp)
        print(f"{target}  (seed {sticker.seed}, {sticker.width}x{sticker.height}, {len(sticker.webp)} bytes)")
    return 0


def _build_prompt(text: str, style_name: str, registry: StyleRegistry) -> str:
    """The bot's own prompt building: subject found in the text, else the style's character."""
    from bot.prompts import PromptError, build_prompt, clean_text, known_subjects
    from generator.api import InvalidRequest

    style = registry.summary(style_name)
    try:
        words = clean_text(text)
    except PromptError as exc:
        raise InvalidRequest(exc.error.message) from None
    if not words:
        return words  # the engine answers "The prompt is empty"
    return build_prompt(words, style, known_subjects(registry.summaries())).prompt


async def _generate(
    config: AppConfig, args: argparse.Namespace, style_name: str, seed: int, count: int
) -> GenerationResult:
    from generator.engine import build_engine
    from generator.styles import StyleRegistry
    from generator.validation import validate_request

    registry = StyleRegistry.load(config.engine.styles_dir)
    request = GenerationRequest(
        prompt=_build_prompt(args.prompt, style_name, registry),
        style=style_name,
        seed=seed,
        count=count,
        steps=args.steps,
        outline=False if args.no_outline else None,
        timeout_s=CLI_TIMEOUT_S,
        request_id="cli",
    )
    validate_request(request, {style.name: style for style in registry.summaries()})  # before loading
    engine = build_engine(config.model, config.engine, registry=registry)
    await engine.start()
    try:
        return await engine.generate(request)
    finally:
        await engine.close()


def _output_paths(output: str | None, prompt: str, seed: int, count: int) -> list[Path]:
    """One path per candidate: `-o FILE` for a single sticker, else `DIR/<prompt>-<seed>.webp`."""
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40] or "sticker"
    names = [f"{slug}-{seed + i}.webp" for i in range(max(count, 1))]
    if output is None:
        return [Path(name) for name in names]
    path = Path(output)
    as_directory = output.endswith(("/", "\\")) or path.is_dir() or count > 1
    if not as_directory:
        if path.suffix.lower() != ".webp":
            raise ValueError(f"output file {output} should end in .webp")
        return [path]
    if path.exists() and not path.is_dir():
        raise ValueError(f"{output} is a file; give a directory for {count} stickers")
    return [path / name for name in names]


def register_dev(subparsers: argparse._SubParsersAction) -> None:
    """Add `stickerbot dev …` commands."""
    tiny = subparsers.add_parser(
        "tiny-model",
        help="build a tiny random-weight SDXL pipeline (for tests and the CPU benchmark)",
        description="Build a tiny random-weight SDXL pipeline of the real diffusers classes and save it "
        "with save_pretrained, so it loads like a real model (`--model DIR` or model.path: DIR).",
    )
    tiny.add_argument("directory", metavar="DIR", help="where to write the model (created if missing)")
    tiny.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    tiny.set_defaults(func=_run_tiny_model)


def _run_tiny_model(args: argparse.Namespace) -> int:
    from generator.tiny import save_tiny_pipeline  # imports torch: only when the command runs

    target = save_tiny_pipeline(args.directory, seed=args.seed)
    print(f"tiny SDXL pipeline written to {target}")
    return 0
