"""`stickerbot run [--config FILE] [--model PATH]`: the bot, with every adapter the config enables."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.config import AppConfig, ConfigError, EnvSettings, load_config, secret_values
from bot.storage import DatabaseError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `stickerbot run`."""
    p = subparsers.add_parser(
        "run",
        help="run the bot (web chat room by default; Discord/Telegram when enabled in the config)",
        description="Run the bot: the engine and every adapter enabled in the config, until SIGINT/SIGTERM. "
        "Without --config the built-in web chat room runs on http://127.0.0.1:8080 and no token is needed.",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        default=EnvSettings.read().config,
        help="YAML config (see config.example.yaml); default $STICKERBOT_CONFIG or built-in defaults",
    )
    p.add_argument("--model", metavar="PATH", help="model hub id or local directory (overrides model.path)")
    p.set_defaults(func=run_command)


def refuse_unknown_default_style(config: AppConfig) -> None:
    """`run` would otherwise draw some other style for everyone; `generate` refuses it too."""
    from generator.styles import StyleRegistry

    registry = StyleRegistry.load(config.engine.styles_dir)
    name = config.engine.default_style
    if name not in registry:
        where = str(config.source) if config.source is not None else "defaults"
        installed = ", ".join(registry.names()) or "none"
        raise ConfigError(f"{where}: 'engine.default_style' {name!r} is not an installed style ({installed})")


def leave_if_model_call_is_stuck() -> None:
    """After a bounded shutdown gave up on a hung model call, exit now (status 0, logs flushed):
    a normal interpreter exit would abort inside torch or wait for the call forever."""
    import logging
    import os

    from generator.worker_thread import abandoned_threads

    if abandoned_threads():
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def run_command(args: argparse.Namespace) -> int:
    from bot.app import run_app
    from bot.logs import configure_logging

    config = load_config(args.config)
    if args.model:
        config.model.path = args.model
    refuse_unknown_default_style(config)
    if getattr(args, "verbose", False):
        config.logging.level = "DEBUG"
    configure_logging(config.logging, secrets=secret_values(config))
    try:
        asyncio.run(run_app(config))
        leave_if_model_call_is_stuck()
    except asyncio.CancelledError:
        return 130
    except (DatabaseError, OSError) as exc:  # database unreachable, port in use, unwritable data dir
        print(f"stickerbot: cannot start: {exc}", file=sys.stderr)
        return 2
    return 0
