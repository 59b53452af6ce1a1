"""Telegram error policy: what is retried, what is only logged, and the Application's error handler.

Flood limits (429 RetryAfter) are PTB's `AIORateLimiter`'s alone: it waits and retries up to
`rate_limit_retries` times, and the `RetryAfter` it gives up with is final here (one retry layer, so
waits never multiply). `call_api` retries only transient network trouble (TimedOut, NetworkError).
BadRequest and Forbidden (blocked bot, kicked from a group) are never retried: the caller decides or
they are logged with the chat and method, and nothing propagates into the Application.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram import ReplyParameters, Update
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError
from telegram.ext import ContextTypes

from adapters.telegram.texts import UNEXPECTED

log = logging.getLogger("adapters.telegram")

T = TypeVar("T")


async def call_api(
    factory: Callable[[], Awaitable[T]], *, what: str, attempts: int = 3, base_delay_s: float = 0.3
) -> T:
    """Run one Bot API call, retrying transient failures. Raises the last error when all attempts fail."""
    for attempt in range(1, attempts + 1):
        try:
            return await factory()
        except (BadRequest, Forbidden):
            raise
        except NetworkError as err:  # includes TimedOut
            if attempt == attempts:
                raise
            delay = base_delay_s * 2 ** (attempt - 1)
            log.warning("telegram: %s failed (%s), retry %d in %.1fs", what, err, attempt, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


async def best_effort(factory: Callable[[], Awaitable[T]], *, what: str) -> T | None:
    """Like `call_api`, but a failure is logged with context and turned into None."""
    try:
        return await call_api(factory, what=what)
    except Forbidden as err:
        log.info("telegram: %s refused (%s)", what, err.message)
    except TelegramError as err:
        log.warning("telegram: %s failed: %s", what, err.message)
    return None


def reply_target_missing(err: BadRequest) -> bool:
    """The message we tried to reply to is gone (deleted by the user)."""
    text = err.message.lower()
    return "replied" in text and "not found" in text


async def send_as_reply(
    send: Callable[[ReplyParameters | None], Awaitable[T]],
    reply_to: int | None,
    *,
    what: str,
    retry: bool = True,
) -> T:
    """Send as a reply to `reply_to`; if that message was deleted meanwhile, send without the reply.

    `retry=False` when `send` already retries on its own."""

    async def once(params: ReplyParameters | None) -> T:
        return await (call_api(lambda: send(params), what=what) if retry else send(params))

    if reply_to is not None:
        try:
            return await once(ReplyParameters(reply_to))
        except BadRequest as err:
            if not reply_target_missing(err):
                raise
            log.info("telegram: %s: the message to reply to is gone; sending without reply", what)
    return await once(None)


def user_not_reachable(err: TelegramError) -> bool:
    """The user never opened a private chat with the bot (or blocked it)."""
    text = err.message.lower()
    return isinstance(err, Forbidden) or "peer_id_invalid" in text or "chat not found" in text


def describe(update: object) -> str:
    """A short, token-free description of an update for logs."""
    if not isinstance(update, Update):
        return repr(type(update).__name__)
    parts = [f"update {update.update_id}"]
    if update.effective_chat is not None:
        parts.append(f"chat {update.effective_chat.id}")
    if update.effective_user is not None:
        parts.append(f"user {update.effective_user.id}")
    kind = next(
        (
            name
            for name in ("message", "inline_query", "callback_query", "message_reaction", "edited_message")
            if getattr(update, name) is not None
        ),
        "other",
    )
    parts.append(kind)
    return ", ".join(parts)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The Application's error handler: log with context; never re-raise."""
    err = context.error
    if isinstance(err, Forbidden):
        log.info("telegram: %s: bot cannot write there (%s)", describe(update), err.message)
    elif isinstance(err, TelegramError):
        log.warning("telegram: %s: %s: %s", describe(update), type(err).__name__, err.message)
    else:
        log.error("telegram: %s: unexpected error", describe(update), exc_info=err)


Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]


def guarded(handler: Handler) -> Handler:
    """Wrap a handler so an unexpected failure is logged with context and the user gets a short
    answer instead of silence (a message reply, or a callback toast); nothing reaches the Application."""

    async def run(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await handler(update, context)
        except Exception as err:
            if isinstance(err, TelegramError):
                log.warning("telegram: %s: %s: %s", describe(update), type(err).__name__, err.message)
            else:
                log.exception("telegram: %s: handler %s failed", describe(update), handler.__qualname__)
            await _apologise(update, context)

    run.__qualname__ = f"guarded({handler.__qualname__})"
    return run


async def _apologise(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.callback_query is not None:
        query = update.callback_query
        await best_effort(lambda: query.answer(UNEXPECTED, show_alert=True), what="answerCallbackQuery")
    elif update.message is not None:
        message = update.message
        await best_effort(
            lambda: send_as_reply(
                lambda reply: context.bot.send_message(message.chat_id, UNEXPECTED, reply_parameters=reply),
                message.message_id,
                what=f"sendMessage to {message.chat_id}",
                retry=False,
            ),
            what=f"sendMessage (apology) to {message.chat_id}",
        )
