"""Neutral reply → Telegram calls: stickers (with their buttons) or a short error, as a reply.

`serve` is the whole life of a chat request: progress feedback, the service call, the answer.
Handlers build the `StickerRequest`; nothing here decides what to draw.
"""

from __future__ import annotations

import logging

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import ParseMode
from telegram.error import Forbidden, TelegramError

from adapters.telegram import texts
from adapters.telegram.callback_data import add_to_pack, animate, more, reroll
from adapters.telegram.context import TelegramContext
from adapters.telegram.errors import send_as_reply
from adapters.telegram.progress import Progress
from bot.messages import failure_text
from bot.types import StickerReply, StickerRequest

log = logging.getLogger(__name__)


def sticker_keyboard(
    record_id: str | None, index: int, *, animated: bool = False
) -> InlineKeyboardMarkup | None:
    if record_id is None:
        return None
    last_row = [InlineKeyboardButton(texts.BUTTON_ADD, callback_data=add_to_pack(record_id, index))]
    if not animated:  # 🎬 brings this exact sticker to life
        last_row.append(InlineKeyboardButton(texts.BUTTON_ANIMATE, callback_data=animate(record_id, index)))
    try:
        return InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(texts.BUTTON_REROLL, callback_data=reroll(record_id)),
                    InlineKeyboardButton(texts.BUTTON_MORE, callback_data=more(record_id)),
                ],
                last_row,
            ]
        )
    except ValueError:
        log.error("telegram: record id %r is too long for buttons; sending without them", record_id)
        return None


async def send_text(
    bot: Bot, chat_id: int, reply_to: int | None, text: str, *, html: bool = False
) -> Message:
    return await send_as_reply(
        lambda reply: bot.send_message(
            chat_id,
            text,
            reply_parameters=reply,
            parse_mode=ParseMode.HTML if html else None,
            disable_web_page_preview=True,
        ),
        reply_to,
        what=f"sendMessage to {chat_id}",
    )


async def send_reply(
    ctx: TelegramContext, bot: Bot, chat_id: int, reply_to: int | None, reply: StickerReply
) -> list[Message]:
    failure = failure_text(reply)
    if failure is not None:
        return [await send_text(bot, chat_id, reply_to, failure)]
    sent = []
    for index, sticker in enumerate(reply.stickers):
        markup = sticker_keyboard(reply.record_id, index, animated=reply.motion is not None)
        sent.append(
            await send_as_reply(
                lambda params, sticker=sticker, markup=markup: ctx.uploads.send(
                    bot, chat_id, sticker, reply_parameters=params, reply_markup=markup, emoji=reply.emoji
                ),
                reply_to,
                what=f"sendSticker to {chat_id}",
                retry=False,
            )
        )
    return sent


async def serve(
    ctx: TelegramContext, bot: Bot, request: StickerRequest, chat_id: int, reply_to: int | None
) -> None:
    """Make the sticker for `request` and answer in `chat_id`, showing progress while it is made."""
    progress = Progress(bot, chat_id, reply_to, action_every_s=ctx.options.chat_action_every_s)
    progress.start()
    try:
        try:
            reply = await ctx.service.handle(request, on_position=progress.on_position)
        except Exception:
            log.exception(
                "telegram: the service failed on request %s in chat %s", request.request_id, chat_id
            )
            await send_text(bot, chat_id, reply_to, texts.FAILED)
            return
        await send_reply(ctx, bot, chat_id, reply_to, reply)
    except Forbidden as err:
        log.info("telegram: cannot answer in chat %s: %s", chat_id, err.message)
    except TelegramError as err:
        log.warning("telegram: answering request %s in chat %s failed: %s", request.request_id, chat_id, err)
    finally:
        await progress.finish()
