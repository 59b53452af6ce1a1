"""Telegram webhook updates on the bot's own aiohttp server, each handled once across processes.

Telegram POSTs every update to one URL; behind a load balancer any bot process may get it, and
Telegram redelivers an update it thinks failed. The route checks the path and the
`X-Telegram-Bot-Api-Secret-Token` header (wrong → 403, logged once per process), claims the
`update_id` in the shared state (`tg:update:<id>`, kept a day), and only the process that won the
claim feeds the update to PTB (which runs with `updater(None)`). Every accepted POST gets 200 at once,
so Telegram never waits on a sticker.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.config import TelegramConfig
from bot.state.keys import KeyValues

log = logging.getLogger("adapters.telegram")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEDUPE_TTL_S = 86_400.0  # Telegram gives up redelivering long before a day
MAX_BODY_BYTES = 1 << 20


def webhook_path(config: TelegramConfig) -> str:
    path = urlsplit(config.webhook.url or "").path
    return path if path.startswith("/") and path != "/" else "/telegram/webhook"


class WebhookServer:
    """The aiohttp site that receives updates for one PTB `Application`."""

    def __init__(self, config: TelegramConfig, application: Application, keys: KeyValues) -> None:
        self.config = config
        self.application = application
        self.keys = keys
        self.path = webhook_path(config)
        self.port: int | None = None
        self.accepted = 0
        self.duplicates = 0
        self._refused_logged = False
        self._runner: web.AppRunner | None = None

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post(self.path, self.receive)
        return app

    async def start(self) -> None:
        hook = self.config.webhook
        self._runner = web.AppRunner(self.build_app(), handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, hook.listen, hook.port, shutdown_timeout=2.0)
        await site.start()
        for address in self._runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                self.port = int(address[1])
                break

    @property
    def where(self) -> tuple[str, int | None]:
        return self.config.webhook.listen, self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def receive(self, request: web.Request) -> web.Response:
        expected = self.config.webhook.secret_token
        if expected:
            given = request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), expected.encode()):
                if not self._refused_logged:
                    self._refused_logged = True
                    log.warning(
                        "telegram webhook: refused a POST with a wrong secret token from %s", request.remote
                    )
                return web.Response(status=403, text="forbidden")
        try:
            data: Any = await request.json(loads=json.loads)
            update_id = int(data["update_id"])
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400, text="not a Telegram update")
        if not await self.keys.claim(f"tg:update:{update_id}", DEDUPE_TTL_S):
            self.duplicates += 1
            log.info("telegram webhook: update %d already taken by another process", update_id)
            return web.Response(text="ok")
        update = Update.de_json(data, self.application.bot)
        self.accepted += 1
        await self.application.update_queue.put(update)
        return web.Response(text="ok")


async def set_webhook(config: TelegramConfig, application: Application) -> None:
    """Point Telegram at `webhook.url` (idempotent: every process may call it)."""
    from adapters.telegram.app import ALLOWED_UPDATES

    await application.bot.set_webhook(
        url=config.webhook.url or "",
        secret_token=config.webhook.secret_token,
        allowed_updates=ALLOWED_UPDATES,
    )


async def start_webhook(config: TelegramConfig, application: Application, keys: KeyValues) -> WebhookServer:
    """Register the webhook when a public URL is configured, then serve it."""
    if config.webhook.url:
        await set_webhook(config, application)
    server = WebhookServer(config, application, keys)
    await server.start()
    return server


async def manage_webhook(config: TelegramConfig, action: str) -> str:
    """`stickerbot telegram set-webhook|delete-webhook`: one Bot API call; returns one line to print."""
    from telegram import Bot
    from telegram.error import TelegramError

    from adapters.telegram.app import ALLOWED_UPDATES, TelegramConfigError, resolve_token

    token = resolve_token(config)
    try:
        async with Bot(token, base_url=config.base_url, base_file_url=config.base_file_url) as bot:
            if action == "set":
                if not config.webhook.url:
                    raise TelegramConfigError("telegram.webhook.url is not set: the public HTTPS URL to use")
                await bot.set_webhook(
                    url=config.webhook.url,
                    secret_token=config.webhook.secret_token,
                    allowed_updates=ALLOWED_UPDATES,
                )
                secret = "with" if config.webhook.secret_token else "WITHOUT"
                return f"webhook set to {config.webhook.url} ({secret} a secret token)"
            await bot.delete_webhook()
            return "webhook deleted (the bot can poll again)"
    except TelegramError as exc:
        raise TelegramConfigError(f"the Bot API refused: {exc.message}") from None
