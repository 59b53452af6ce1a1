"""`stickerbot cutout`: turn any image with a plain background into a Telegram-ready sticker."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.commands import outputs
from generator.postprocess import (
    StickerOptions,
    cut,
    discord_server_sticker,
    encode_sticker_webp,
    finish_rgba,
    parse_color,
)
from generator.postprocess.options import MAX_OUTLINE


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `stickerbot cutout`."""
    parser = subparsers.add_parser(
        "cutout",
        help="remove a plain background and write a sticker (WebP, 512 px, < 512,000 bytes)",
        description=(
            "Cut the subject out of an image with a plain background (white, green screen or any flat "
            "colour), add a white outline, and write a WebP sticker that Telegram accepts: one side "
            "exactly 512 px, under 512,000 bytes. Images that already have transparency keep it."
        ),
    )
    parser.add_argument("image", help="input image (PNG, JPEG, WebP, GIF or BMP)")
    parser.add_argument(
        "-o",
        "--output",
        help="output .webp, in a folder that exists (default: <image name>.sticker.webp next to the input)",
    )
    outline = parser.add_mutually_exclusive_group()
    outline.add_argument(
        "--outline", type=int, metavar="PX", default=8, help=f"white outline width, 0-{MAX_OUTLINE} (8)"
    )
    outline.add_argument("--no-outline", action="store_true", help="no outline")
    parser.add_argument("--shadow", action="store_true", help="add a soft drop shadow")
    parser.add_argument(
        "--background",
        metavar="COLOUR",
        help="background colour to remove, e.g. '#00ff00' or 'white' (default: measured from the border)",
    )
    parser.add_argument(
        "--tolerance", type=float, default=40.0, help="how far from the background colour still counts (40)"
    )
    parser.add_argument("--square", action="store_true", help="centre on a transparent 512x512 square")
    parser.add_argument(
        "--keep-holes", action="store_true", help="keep enclosed areas of the background colour opaque"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail when no plain background is found (default: keep the whole image, round corners)",
    )
    parser.add_argument("--matting", default="flood", help="flood (default) or rembg:<model> if installed")
    parser.add_argument(
        "--discord-png", metavar="PATH", help="also write a Discord server sticker (PNG, 320x320, <= 512 KiB)"
    )
    parser.set_defaults(func=run_cutout)


def _options(args: argparse.Namespace) -> StickerOptions:
    return StickerOptions(
        background=parse_color(args.background) if args.background else None,
        outline=0 if args.no_outline else args.outline,
        shadow=args.shadow,
        matting=args.matting,
        tolerance=args.tolerance,
        square=args.square,
        holes=not args.keep_holes,
        on_no_background="error" if args.strict else "keep",
    )


def run_cutout(args: argparse.Namespace) -> int:
    source = Path(args.image)
    default = source.with_name(f"{source.stem}.sticker.webp")
    # Checked before any work, by the same rule as `generate` (bot.commands.outputs).
    output = outputs.file_path(
        args.output or str(default), ".webp", hint=" (a PNG for Discord: --discord-png)"
    )
    discord_png = outputs.file_path(args.discord_png, ".png") if args.discord_png else None
    options = _options(args)
    matte = cut(source, options)
    finished = finish_rgba(matte.image, options)
    webp = encode_sticker_webp(finished)
    outputs.write(output, webp)
    width, height = finished.size
    how = matte.matter
    if matte.fallback:
        how = "no plain background found, kept the whole image"
    elif matte.background is not None:
        r, g, b = (round(c) for c in matte.background.color)
        how = f"removed background #{r:02x}{g:02x}{b:02x}"
    print(f"wrote {output} ({width}x{height}, {len(webp):,} bytes; {how})")
    if discord_png is not None:
        png = discord_server_sticker(finished)
        outputs.write(discord_png, png)
        print(f"wrote {discord_png} (320x320 PNG, {len(png):,} bytes)")
    if matte.fallback:
        print("note: use --background COLOUR or --strict to change this", file=sys.stderr)
    return 0
