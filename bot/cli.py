"""The `stickerbot` command line. Each command group lives in its own module under `bot.commands`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from bot.commands import animate, cutout, generate, run, serve, studio, styles
from bot.config import ConfigError
from bot.logs import configure_cli_logging
from generator.api import GeneratorError

log = logging.getLogger("stickerbot")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stickerbot", description="Real-time chat stickers from SDXL-Turbo."
    )
    parser.add_argument(*VERBOSE_FLAGS, dest="verbose", action="store_true", help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run.register(sub)
    generate.register(sub)
    cutout.register(sub)
    serve.register(sub)
    animate.register(sub)
    styles_parser = sub.add_parser("styles", help="list, show, train, teach, fuse and preview styles")
    styles_sub = styles_parser.add_subparsers(dest="styles_command", required=True, metavar="ACTION")
    styles.register(styles_sub)
    studio.register(styles_sub)
    dev_parser = sub.add_parser("dev", help="developer tools (tiny test model)")
    dev_sub = dev_parser.add_subparsers(dest="dev_command", required=True, metavar="ACTION")
    generate.register_dev(dev_sub)
    animate.register_dev(dev_sub)
    _add_verbose_to_commands(parser)
    return parser


VERBOSE_FLAGS = ("-v", "--verbose")
VERBOSE_HELP = "show progress and library logs (one-shot commands are quiet by default)"


def _add_verbose_to_commands(parser: argparse.ArgumentParser) -> None:
    """Accept `-v` after the command too (`stickerbot generate -v …`), unless a command has its own."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                if not any(flag in command._option_string_actions for flag in VERBOSE_FLAGS):
                    command.add_argument(
                        *VERBOSE_FLAGS,
                        dest="verbose",
                        action="store_true",
                        default=argparse.SUPPRESS,
                        help=VERBOSE_HELP,
                    )
                _add_verbose_to_commands(command)


ONE_SHOT_EXEMPT = frozenset({"run"})
"""Commands that set up their own logging (`run` follows the config's `logging:` section)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    root = logging.getLogger()
    level = root.level
    handler = configure_cli_logging(args.verbose) if args.command not in ONE_SHOT_EXEMPT else None
    try:
        return int(args.func(args) or 0)
    except GeneratorError as exc:  # the sentence only: library detail goes to the log (-v shows it)
        if exc.detail:
            log.debug("%s: %s", type(exc).__name__, exc.detail)
        print(f"stickerbot: {exc.user_message}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"stickerbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        if handler is not None:  # leave logging as it was for in-process callers (tests, scripts)
            root.removeHandler(handler)
            root.setLevel(level)


if __name__ == "__main__":
    sys.exit(main())
