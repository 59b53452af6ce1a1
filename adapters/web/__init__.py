"""The built-in web chat room: an aiohttp server with one WebSocket per browser tab.

`create_adapter(config, service, app_config)` is what the composition root calls. The
adapter stores room history in the service's database (`service.database`), or opens the
configured `storage.url` itself when the service does not expose one.
"""

from __future__ import annotations

import logging

from aiohttp import web

from adapters.web.chat import ChatRoom
from adapters.web.history import History
from adapters.web.server import build_app, start_runner
from bot.config import AppConfig, WebConfig
from bot.storage import Database, open_database
from bot.types import StickerServiceAPI

__all__ = ["WebAdapter", "create_adapter"]

log = logging.getLogger("stickerbot.web")


class WebAdapter:
    name = "web"

    def __init__(self, config: WebConfig, service: StickerServiceAPI, app_config: AppConfig) -> None:
        self.config = config
        self.service = service
        self.app_config = app_config
        self.chat: ChatRoom | None = None
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._own_db: Database | None = None

    @property
    def url(self) -> str:
        host = self.config.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port if self.port is not None else self.config.port}"

    async def build_app(self) -> web.Application:
        """Open the history and build the aiohttp application (tests serve it themselves)."""
        database: Database | None = getattr(self.service, "database", None)
        if database is None:
            database = self._own_db = await open_database(self.app_config.storage.url, migrate=False)
        history = History(database, limit=self.config.history_limit)
        await history.open()
        chat = self.chat = ChatRoom(
            self.config, self.service, history, stop_grace_s=self.app_config.limits.shutdown_grace_s
        )
        app = build_app(chat)

        async def on_shutdown(_app: web.Application) -> None:
            await chat.close()

        app.on_shutdown.append(on_shutdown)
        return app

    async def start(self) -> None:
        app = await self.build_app()
        runner = self._runner = await start_runner(app, self.config)
        site = web.TCPSite(runner, self.config.host, self.config.port, shutdown_timeout=5.0)
        await site.start()
        self.port = _bound_port(runner, self.config.port)
        if self.config.host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("the web chat room listens on %s, reachable from other machines", self.config.host)
        print(f"Chat room: {self.url}", flush=True)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._own_db is not None:
            await self._own_db.close()
            self._own_db = None


def _bound_port(runner: web.AppRunner, configured: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return configured


def create_adapter(config: WebConfig, service: StickerServiceAPI, app_config: AppConfig) -> WebAdapter:
    return WebAdapter(config, service, app_config)
