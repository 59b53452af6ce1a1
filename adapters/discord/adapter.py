"""The Discord adapter's lifecycle: log in, sync commands, connect; stop gracefully."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import discord
import yarl

from adapters.discord import endpoints
from adapters.discord.client import build_client
from adapters.discord.context import DiscordContext
from bot.config import AppConfig, ConfigError, DiscordConfig, required_secret
from bot.types import PlatformUnreachable, StickerServiceAPI

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 60.0


class DiscordAdapter:
    name = "discord"

    def __init__(self, config: DiscordConfig, service: StickerServiceAPI, app_config: AppConfig) -> None:
        self.ctx = DiscordContext(service=service, config=config, app_config=app_config)
        self.client: discord.Client | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Log in and connect; `PlatformUnreachable` when Discord can't be reached (retried by the app)."""
        try:
            await self._start()
        except (aiohttp.ClientConnectionError, discord.GatewayNotFound, TimeoutError, ConnectionError) as exc:
            if isinstance(exc, PlatformUnreachable):
                raise
            raise PlatformUnreachable(f"Discord: {type(exc).__name__}: {exc}") from None
        except discord.DiscordServerError as exc:
            raise PlatformUnreachable(f"Discord answered {exc.status}") from None

    async def _start(self) -> None:
        token = required_secret(self.ctx.config.token, "discord.token")
        config = self.ctx.config
        endpoints.install(self, config.api_base_url, config.gateway_url)
        gateway = yarl.URL(config.gateway_url) if config.gateway_url else None
        client = self.client = build_client(self.ctx, gateway=gateway)
        try:
            try:
                await client.login(token)  # GET /users/@me, application info, setup_hook (command sync)
            except discord.LoginFailure as exc:
                raise ConfigError("discord.token was rejected by Discord (401 Unauthorized)") from exc
            self._task = asyncio.create_task(client.connect(reconnect=True), name="discord-gateway")
            connected = asyncio.create_task(client.connected.wait())  # type: ignore[attr-defined]
            done, _ = await asyncio.wait(
                {self._task, connected}, timeout=CONNECT_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
            )
            connected.cancel()
            if self._task in done:
                self._task.result()  # a fatal gateway error (bad token, disallowed intents…)
                raise ConnectionError("the Discord gateway closed during start-up")
            if not done:
                raise TimeoutError(f"no Discord gateway session after {CONNECT_TIMEOUT_S:.0f}s")
        except BaseException:
            await self._shutdown_client()
            raise
        log.info("Discord adapter connected as %s", client.user)

    async def stop(self) -> None:
        if self.client is None:
            return
        if not await self.ctx.inflight.drain(self.ctx.app_config.limits.shutdown_grace_s):
            log.warning("stopping Discord with replies still in flight")
        await self._shutdown_client()

    async def _shutdown_client(self) -> None:
        client, task = self.client, self._task
        self.client, self._task = None, None
        try:
            if client is not None:
                await client.close()
            if task is not None:
                await asyncio.wait({task}, timeout=10)
                if not task.done():
                    task.cancel()
                    await asyncio.wait({task})
                elif not task.cancelled() and task.exception() is not None:
                    log.info("Discord gateway ended with %r", task.exception())
        finally:
            endpoints.release(self)
