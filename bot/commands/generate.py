"""`stickerbot generate …` (one-shot stickers from the command line) and `stickerbot dev …` commands."""

from __future__ import annotations

import argparse
import asyncio
import secrets
from typing import TYPE_CHECKING

from bot.commands import animate, outputs
from generator.api import MAX_COUNT, GenerationRequest, GenerationResult, InvalidRequest

if TYPE_CHECKING:
    from bot.config import AppConfig
    from bot.planning import Plan
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
        help="output .webp file for one sticker, or a folder (FOLDER/ is created if its parent exists) "
        "for several (default: current folder)",
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
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    if getattr(args, "animate", None):
        return animate.run_generate_animated(args, config, seed)
    targets = outputs.sticker_paths(args.output, args.prompt, seed, args.count)  # before any work
    result = asyncio.run(_generate(config, args, seed))
    folder = args.output is not None and outputs.is_folder(args.output)
    for target, sticker in zip(targets, result.stickers, strict=True):
        outputs.write(target, sticker.webp, create_folder=folder)
        print(f"{target}  (seed {sticker.seed}, {sticker.width}x{sticker.height}, {len(sticker.webp)} bytes)")
    return 0


async def _plan(config: AppConfig, args: argparse.Namespace, seed: int, registry: StyleRegistry) -> Plan:
    """The bot's own planning (options, emoji, subject, limits) and safety filter, as in a chat."""
    from bot.planning import plan_request
    from bot.safety import BlockListFilter
    from bot.types import ErrorKind, RequestKind, ServiceError, StickerRequest

    style_name = args.style or config.engine.default_style
    registry.summary(style_name)  # an unknown or unavailable style: the generator's own sentence
    request = StickerRequest(
        platform="cli",
        user_id="cli",
        conversation_id="cli",
        server_id=None,
        text=args.prompt,
        kind=RequestKind.COMMAND,
        style=style_name,
        count=args.count,
        seed=seed,
        outline=False if args.no_outline else None,
        request_id="cli",
    )
    try:
        plan = plan_request(
            request,
            styles=registry.summaries(),
            configured_style=config.engine.default_style,
        )
    except ServiceError as exc:
        if exc.error.kind is ErrorKind.EMPTY_PROMPT:
            raise InvalidRequest(
                "The prompt is empty: say what the sticker shows, e.g. 'eating otter'."
            ) from None
        raise InvalidRequest(exc.error.message) from None
    safety = BlockListFilter.from_config(config.safety.block_list, config.safety.block_list_file)
    verdict = await safety.check(plan.text)
    if not verdict.allowed:
        raise InvalidRequest(verdict.message)
    return plan


async def _generate(config: AppConfig, args: argparse.Namespace, seed: int) -> GenerationResult:
    from generator.engine import build_engine
    from generator.styles import StyleRegistry
    from generator.validation import validate_request

    if not 1 <= args.count <= MAX_COUNT:
        raise InvalidRequest(f"Ask for between 1 and {MAX_COUNT} stickers at once.")
    registry = StyleRegistry.load(config.engine.styles_dir)
    plan = await _plan(config, args, seed, registry)
    request = GenerationRequest(
        prompt=plan.built.prompt,
        style=plan.style.name,
        seed=plan.seed,
        count=plan.count,
        steps=args.steps,
        outline=plan.outline,
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
