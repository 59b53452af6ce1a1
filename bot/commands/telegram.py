"""`stickerbot telegram set-webhook | delete-webhook [--config FILE]`: register the webhook once for all
bot processes (or remove it to go back to polling)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os

from bot.config import ConfigError, load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("telegram", help="Telegram set-up: set-webhook, delete-webhook")
    sub = p.add_subparsers(dest="telegram_command", required=True, metavar="ACTION")
    for name, action, text in (
        ("set-webhook", "set", "point Telegram at telegram.webhook.url (with its secret token)"),
        ("delete-webhook", "delete", "remove the webhook (the bot polls again)"),
    ):
        q = sub.add_parser(name, help=text, description=text)
        q.add_argument("--config", metavar="FILE", default=os.environ.get("STICKERBOT_CONFIG"))
        q.set_defaults(func=_run, webhook_action=action)


def _run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:  # bot/ never imports a chat library directly: the adapter module is loaded by name
        webhook = importlib.import_module("adapters.telegram.webhook")
    except ImportError as exc:
        raise ConfigError(f"the Telegram adapter cannot be imported ({exc})") from None
    print(asyncio.run(webhook.manage_webhook(config.telegram, args.webhook_action)))
    return 0
