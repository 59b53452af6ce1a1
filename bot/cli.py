"""The `stickerbot` command line. Each command group lives in its own module under `bot.commands`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from bot.commands import cutout, generate, run, studio, styles
from bot.config import ConfigError
from generator.api import GeneratorError

log = logging.getLogger("stickerbot")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stickerbot", description="Real-time chat stickers from SDXL-Turbo."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run.register(sub)
    generate.register(sub)
    cutout.register(sub)
    styles_parser = sub.add_parser("styles", help="list, show, train, teach, fuse and preview styles")
    styles_sub = styles_parser.add_subparsers(dest="styles_command", required=True, metavar="ACTION")
    styles.register(styles_sub)
    studio.register(styles_sub)
    dev_parser = sub.add_parser("dev", help="developer tools (tiny test model)")
    dev_sub = dev_parser.add_subparsers(dest="dev_command", required=True, metavar="ACTION")
    generate.register_dev(dev_sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (GeneratorError, ConfigError) as exc:
        print(f"stickerbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
