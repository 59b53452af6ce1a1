"""`stickerbot animate` (a sticker file comes to life), `generate --animate` and `dev tiny-motion-adapter`.

The output format follows the file name: .webm (Telegram video sticker), .gif (Discord attachment),
.webp (web room) or .png (APNG).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from generator.api import InvalidRequest

if TYPE_CHECKING:
    from bot.config import AppConfig
    from generator.animation.motion import Clip

MOTION_HELP = "bounce, wiggle, shake, pulse, wave, float, pop-in, squash, spin"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `stickerbot animate`."""
    parser = subparsers.add_parser(
        "animate",
        help="animate a finished sticker with a motion preset (WEBM, GIF, WebP or APNG)",
        description="Bring a static sticker (WebP/PNG with transparency) to life with a looping motion, "
        "e.g. `stickerbot animate sticker.webp --motion bounce -o out.webm`. The output format follows "
        "the suffix: .webm (Telegram video sticker: VP9 with alpha, 512 px, <= 3 s, <= 256 KB), .gif "
        "(Discord attachments), .webp (animated WebP) or .png (APNG).",
    )
    parser.add_argument("sticker", help="the static sticker (WebP or PNG with transparency)")
    parser.add_argument("-m", "--motion", default="bounce", help=f"{MOTION_HELP} (default bounce)")
    parser.add_argument("-o", "--output", help="output file (default: <sticker>.<motion>.webm)")
    _clip_options(parser)
    parser.add_argument(
        "--discord-sticker",
        metavar="PATH",
        help="also write a Discord server sticker (.png APNG or .gif, 320x320)",
    )
    parser.set_defaults(func=run_animate)


def _clip_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fps", type=float, default=24.0, help="frames per second, 1-30 (default 24)")
    parser.add_argument(
        "--duration", type=float, help="loop length in seconds, 0.5-3 (default: the motion's)"
    )


def add_generate_option(parser: argparse.ArgumentParser) -> None:
    """`stickerbot generate … --animate [MOTION|diffusion]` (the only line the generate command needs)."""
    parser.add_argument(
        "--animate",
        nargs="?",
        const="auto",
        metavar="MOTION",
        help=f"make an animated sticker: {MOTION_HELP}, diffusion (AnimateDiff), or nothing to let the "
        "expression choose; -o NAME.webm|.gif|.webp|.png",
    )


def register_dev(subparsers: argparse._SubParsersAction) -> None:
    tiny = subparsers.add_parser(
        "tiny-motion-adapter",
        help="build a tiny random-weight AnimateDiff motion adapter that fits `dev tiny-model`",
        description="Save a random-weight MotionAdapter for the tiny SDXL test model "
        "(point model.motion_adapter at DIR).",
    )
    tiny.add_argument("directory", metavar="DIR", help="where to write the adapter (created if missing)")
    tiny.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    tiny.set_defaults(func=_run_tiny_adapter)


def _run_tiny_adapter(args: argparse.Namespace) -> int:
    from generator.animation.diffusion import save_tiny_motion_adapter

    print(f"tiny motion adapter written to {save_tiny_motion_adapter(args.directory, seed=args.seed)}")
    return 0


def _format(path: Path) -> str:
    from generator.animation.encode import format_for_path

    try:
        return format_for_path(path.name)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise InvalidRequest(f"Could not write {path}: {exc.strerror or exc}.") from exc


def _preset_clip(sticker: object, motion: str, args: argparse.Namespace) -> Clip:
    from bot.motion import UnknownMotionName, normalise_motion
    from generator.animation.motion import animate

    try:
        if normalise_motion(motion) == "diffusion":
            raise InvalidRequest(
                "A finished sticker is animated with a motion preset; diffusion needs a prompt."
            )
        if not 1 <= args.fps <= 30:
            raise InvalidRequest("--fps must be from 1 to 30.")
        return animate(sticker, motion, fps=args.fps, duration_s=args.duration)  # type: ignore[arg-type]
    except (UnknownMotionName, ValueError) as exc:
        raise InvalidRequest(str(exc)) from None


def _save(clip: Clip, output: Path, how: str) -> None:
    from generator.animation.encode import encode_clip

    fmt = _format(output)
    data = encode_clip(clip, fmt)
    _write(output, data)
    print(
        f"wrote {output} ({fmt}, {len(clip.frames)} frames at {clip.fps:g} fps, {len(data):,} bytes; {how})"
    )


def run_animate(args: argparse.Namespace) -> int:
    from generator.postprocess import load_image

    source = Path(args.sticker)
    motion = args.motion
    output = Path(args.output) if args.output else source.with_name(f"{source.stem}.{motion}.webm")
    _format(output)  # a bad suffix is reported before any work
    image = load_image(source).convert("RGBA")
    if image.getextrema()[3][0] == 255:
        print("note: the sticker has no transparency; the whole image moves", file=sys.stderr)
    clip = _preset_clip(image, motion, args)
    _save(clip, output, f"motion {clip.motion}")
    if args.discord_sticker:
        _write_discord(clip, Path(args.discord_sticker))
    return 0


def _write_discord(clip: Clip, path: Path) -> None:
    from generator.animation.encode import discord_server_sticker_animated

    fmt = _format(path)
    if fmt not in ("apng", "gif"):
        raise InvalidRequest("Discord server stickers are .png (APNG) or .gif.")
    data = discord_server_sticker_animated(clip, fmt)
    _write(path, data)
    print(f"wrote {path} (Discord server sticker, 320x320 {fmt}, {len(data):,} bytes)")


# --------------------------------------------------------------------------- generate --animate
def run_generate_animated(args: argparse.Namespace, config: AppConfig, seed: int) -> int:
    """`stickerbot generate PROMPT --animate [MOTION|diffusion] -o FILE`: one animated sticker."""
    from bot.motion import DIFFUSION, UnknownMotionName, resolve

    if args.count not in (None, 1):
        raise InvalidRequest("--animate makes one sticker; leave out -n.")
    args.count, args.seed = 1, seed
    output = Path(args.output) if args.output else Path(f"sticker-{seed}.webm")
    _format(output)
    try:
        motion = resolve(args.animate, args.prompt)
    except UnknownMotionName as exc:
        raise InvalidRequest(str(exc)) from None
    if motion == DIFFUSION:
        clip = _diffusion_clip(args, config, seed)
        _save(clip, output, f"AnimateDiff, seed {seed}")
        return 0
    from bot.commands.generate import CLI_TIMEOUT_S, _generate, _plan
    from bot.planning import generation_request
    from generator.postprocess import load_image
    from generator.styles import StyleRegistry

    registry = StyleRegistry.load(config.engine.styles_dir)
    plan = asyncio.run(_plan(config, args, registry))  # the chat's own planning and safety filter
    request = generation_request(plan, request_id="cli", steps=args.steps, timeout_s=CLI_TIMEOUT_S)
    result = asyncio.run(_generate(config, registry, request))
    sticker = load_image(result.stickers[0].webp).convert("RGBA")
    args.fps, args.duration = getattr(args, "fps", 24.0), getattr(args, "duration", None)
    clip = _preset_clip(sticker, motion, args)
    _save(clip, output, f"motion {clip.motion}, seed {seed}")
    return 0


def _diffusion_clip(args: argparse.Namespace, config: AppConfig, seed: int) -> Clip:
    """AnimateDiff on the style's fused UNet, cut out with one key; outside the engine (a one-shot run)."""
    from bot.commands.generate import _plan
    from generator.animation.clip_cutout import cut_clip
    from generator.animation.diffusion import ClipDiffuser, load_motion_adapter
    from generator.pipeline import StickerPipeline
    from generator.postprocess import StickerOptions
    from generator.styles import StyleRegistry

    registry = StyleRegistry.load(config.engine.styles_dir)
    plan = asyncio.run(_plan(config, args, registry))  # the chat's own planning and safety filter
    style, style_name, prompt = plan.style, plan.style.name, plan.built.prompt
    adapter = load_motion_adapter(config.model.motion_adapter, local_files_only=config.model.local_files_only)
    pipe = StickerPipeline.load(config.model, registry)
    pipe.activate_style(style_name)
    diffuser = ClipDiffuser(pipe.pipe, adapter)
    steps, strength = args.steps or style.steps, config.model.motion_from_static_strength
    negative = style.negative_prompt or None
    # the static sticker first (its latents), then the clip starts from it (0: from pure noise)
    start = diffuser.static_latents(prompt, seed, negative_prompt=negative, steps=steps) if strength else None
    frames = diffuser.run(
        prompt,
        seed,
        style=style_name,
        negative_prompt=negative,
        frames=config.model.motion_frames,
        steps=steps,
        start=start,
        strength=strength,
    )
    outline = 0 if args.no_outline or not style.outline else 8
    fps = max(8.0, len(frames) / 2.0)  # 8-16 frames over about 1-2 s
    return cut_clip(frames, fps, StickerOptions(outline=outline, background=style.background))
