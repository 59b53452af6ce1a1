"""The Telegram adapter: builds the python-telegram-bot Application and runs it (polling or webhook).

`base_url`/`base_file_url` come from config, so the bot can talk to a self-hosted Bot API server
(or the tests' fake). Updates are processed concurrently, because a handler waits for its sticker;
`AIORateLimiter` keeps the bot inside Telegram's flood limits and retries after 429s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit

from telegram import BotCommand, Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    MessageReactionHandler,
    filters,
)

from adapters.telegram.buttons import Buttons
from adapters.telegram.commands import Commands
from adapters.telegram.context import AdapterOptions, TelegramContext
from adapters.telegram.errors import best_effort, guarded, on_error
from adapters.telegram.inline import InlineStickers
from adapters.telegram.packs import Packs
from adapters.telegram.reactions import Reactions
from adapters.telegram.start_links import StartLinks
from adapters.telegram.store import TelegramStore
from adapters.telegram.teach import TelegramTeach
from adapters.telegram.uploads import StickerUploads
from adapters.telegram.webhook import WebhookServer, start_webhook
from bot.config import AppConfig, ConfigError, TelegramConfig, required_secret
from bot.state.access import state_for
from bot.types import PlatformUnreachable, StickerServiceAPI

log = logging.getLogger("adapters.telegram")

ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.INLINE_QUERY,
    Update.CALLBACK_QUERY,
    Update.MESSAGE_REACTION,
]
MAX_CONCURRENT_UPDATES = 256
COMMANDS = [
    BotCommand("sticker", "Draw a sticker: /sticker eating otter"),
    BotCommand("style", "List styles, or set this chat's style"),
    BotCommand("help", "How to use the bot"),
]


# Loggers that may print Bot API URLs, which contain the token.
_URL_LOGGERS = (
    "telegram.Bot",
    "telegram.ext.ExtBot",
    "telegram.ext.Updater",
    "telegram.ext.Application",
    "telegram.request.BaseRequest",
    "telegram.request.HTTPXRequest",
)


class _RedactToken(logging.Filter):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), ()
        return True


def _keep_token_out_of_logs(token: str) -> None:
    """httpx logs every request URL at INFO and PTB logs its base URL at DEBUG; both carry the token."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactToken) and f.token == token for f in logger.filters):
            logger.addFilter(_RedactToken(token))


class TelegramConfigError(ConfigError, ValueError):
    """The telegram section cannot work as configured (message names the key)."""


def resolve_token(config: TelegramConfig) -> str:
    try:
        return required_secret(config.token, "telegram.token")
    except ConfigError as err:
        raise TelegramConfigError(str(err)) from None


class TelegramAdapter:
    name = "telegram"

    def __init__(
        self,
        config: TelegramConfig,
        service: StickerServiceAPI,
        app_config: AppConfig | None = None,
        *,
        options: AdapterOptions | None = None,
    ) -> None:
        self.config = config
        self.options = options or AdapterOptions()
        store = TelegramStore.for_service(service)
        self.ctx = TelegramContext(
            service=service,
            config=config,
            options=self.options,
            store=store,
            uploads=StickerUploads(store, config.storage_chat_id),
        )
        self.webhook: WebhookServer | None = None
        self.application = self._build(resolve_token(config))

    def _build(self, token: str) -> Application:
        _keep_token_out_of_logs(token)
        o = self.options
        builder = (
            ApplicationBuilder()
            .token(token)
            .base_url(self.config.base_url)
            .base_file_url(self.config.base_file_url)
            .http_version("1.1")
            .get_updates_http_version("1.1")
            .connection_pool_size(o.connection_pool_size)
            .pool_timeout(o.pool_timeout_s)
            .read_timeout(o.read_timeout_s)
            .write_timeout(o.write_timeout_s)
            .get_updates_read_timeout(o.poll_timeout_s + 5)
            .concurrent_updates(MAX_CONCURRENT_UPDATES)
            .rate_limiter(
                AIORateLimiter(
                    overall_max_rate=o.overall_max_rate,
                    group_max_rate=o.group_max_rate,
                    max_retries=o.rate_limit_retries,
                )
            )
        )
        if self.webhook_mode:  # updates come from adapters/telegram/webhook.py, not PTB's updater
            builder = builder.updater(None)
        app = builder.build()
        links = StartLinks()
        commands = Commands(self.ctx, links)
        inline = InlineStickers(self.ctx, links)
        buttons = Buttons(self.ctx, Packs(self.ctx))
        reactions = Reactions(self.ctx)
        app.add_handler(CommandHandler("sticker", guarded(commands.sticker)))
        app.add_handler(CommandHandler("style", guarded(commands.style)))
        app.add_handler(CommandHandler("help", guarded(commands.help)))
        app.add_handler(CommandHandler("start", guarded(commands.start)))
        teach = TelegramTeach(self.ctx, settle_s=o.teach_settle_s)  # adapters.telegram.teach
        app.add_handler(CommandHandler("teach", guarded(teach.teach)))
        app.add_handler(CommandHandler("forget", guarded(teach.forget)))
        app.add_handler(CommandHandler("teachsettings", guarded(teach.settings)))
        app.add_handler(MessageHandler(filters.PHOTO | filters.Document.IMAGE, guarded(teach.photo)))
        app.add_handler(
            MessageHandler(
                filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, guarded(commands.private_text)
            )
        )
        app.add_handler(InlineQueryHandler(guarded(inline.on_query)))
        app.add_handler(CallbackQueryHandler(guarded(buttons.on_press)))
        app.add_handler(MessageReactionHandler(guarded(reactions.on_reaction)))
        app.add_error_handler(on_error)
        return app

    @property
    def webhook_mode(self) -> bool:
        return self.config.mode == "webhook" or (self.config.mode is None and bool(self.config.webhook.url))

    async def start(self) -> None:
        """Connect and serve; `PlatformUnreachable` when the Bot API can't be reached (retried by the app)."""
        try:
            await self._start()
        except NetworkError as err:  # includes TimedOut: DNS, refused connections, proxies, 5xx
            await self._undo_start()
            host = urlsplit(self.config.base_url).hostname or self.config.base_url
            raise PlatformUnreachable(f"Telegram Bot API at {host}: {err.message}") from None

    async def _undo_start(self) -> None:
        app = self.application
        if self.webhook is not None:
            await self.webhook.stop()
            self.webhook = None
        with contextlib.suppress(TelegramError, RuntimeError):
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await app.shutdown()

    async def _start(self) -> None:
        app = self.application
        await self.ctx.store.open()
        try:
            await app.initialize()  # getMe
        except InvalidToken as err:
            raise TelegramConfigError(
                "telegram.token was rejected by the Bot API (401 Unauthorized)"
            ) from err
        self.ctx.bot_username = app.bot.username
        await best_effort(lambda: app.bot.set_my_commands(COMMANDS), what="setMyCommands")
        await app.start()
        if self.webhook_mode:
            self.webhook = await start_webhook(self.config, app, state_for(self.ctx.service).keys)
            log.info("telegram: webhook on %s:%s as @%s", *self.webhook.where, self.ctx.bot_username)
        else:
            updater = app.updater
            assert updater is not None
            await updater.start_polling(
                timeout=self.options.poll_timeout_s,
                allowed_updates=ALLOWED_UPDATES,
                error_callback=_log_polling_error,
            )
            log.info("telegram: polling as @%s", self.ctx.bot_username)

    async def stop(self) -> None:
        """Stop fetching, let in-flight replies finish (bounded by `stop_grace_s`), disconnect."""
        app = self.application
        if self.webhook is not None:
            await self.webhook.stop()
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            try:
                await asyncio.wait_for(app.stop(), self.options.stop_grace_s)
            except TimeoutError:
                log.warning(
                    "telegram: in-flight updates did not finish within %ss", self.options.stop_grace_s
                )
        if not await self.ctx.tasks.drain(self.options.stop_grace_s):
            abandoned = await self.ctx.tasks.cancel_all()
            log.warning("telegram: %d background upload(s) abandoned at stop", abandoned)
        with contextlib.suppress(RuntimeError):
            await app.shutdown()


def _log_polling_error(err: TelegramError) -> None:
    log.warning("telegram: polling failed: %s: %s", type(err).__name__, err.message)
