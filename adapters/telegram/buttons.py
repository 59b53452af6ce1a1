"""Buttons under stickers: 🔄 Reroll, 4 more, ➕ Add to my pack (payloads in `callback_data`)."""

from __future__ import annotations

import logging
from dataclasses import replace

from telegram import Bot, CallbackQuery, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from adapters.telegram import callback_data, texts
from adapters.telegram.context import TelegramContext
from adapters.telegram.errors import best_effort, call_api
from adapters.telegram.packs import PackResult, Packs
from adapters.telegram.parsing import chat_request
from adapters.telegram.render import serve
from bot.types import RequestKind

log = logging.getLogger(__name__)


class Buttons:
    def __init__(self, ctx: TelegramContext, packs: Packs) -> None:
        self.ctx = ctx
        self.packs = packs

    async def on_press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        press = callback_data.parse(query.data)
        if press is None:
            await best_effort(lambda: query.answer(texts.CALLBACK_UNKNOWN), what="answerCallbackQuery")
            return
        if press.action == callback_data.ADD:
            result = await self.packs.add(context.bot, query.from_user, press.record_id, press.index)
            await self._tell_pack_result(context.bot, query, result)
            return
        message = query.message
        if message is None or not message.is_accessible:
            await best_effort(lambda: query.answer(texts.CALLBACK_UNKNOWN), what="answerCallbackQuery")
            return
        await best_effort(lambda: query.answer(texts.CALLBACK_WORKING), what="answerCallbackQuery")
        # A result that is no longer stored gets the core's NOT_FOUND answer from `serve`.
        kind = RequestKind.REROLL if press.action == callback_data.REROLL else RequestKind.VARIATIONS
        request = chat_request(message.chat, query.from_user, "", kind=kind, parent_id=press.record_id)
        if press.action == callback_data.ANIMATE:  # that exact candidate: its seed names it
            record = await self.ctx.service.record(press.record_id)
            seed = record.seed + press.index if record is not None else None
            request = replace(request, kind=RequestKind.ANIMATE, seed=seed)
        await serve(self.ctx, context.bot, request, message.chat.id, message.message_id)

    async def _tell_pack_result(self, bot: Bot, query: CallbackQuery, result: PackResult) -> None:
        """The link goes to the user's private chat (a group shouldn't see it); the button gets a toast."""
        if not result.ok:
            await best_effort(
                lambda: query.answer(result.message, show_alert=True), what="answerCallbackQuery"
            )
            return
        user_id = query.from_user.id
        link_text = texts.PACK_LINK.format(name=result.set_name)
        try:
            await call_api(
                lambda: bot.send_message(user_id, link_text, disable_web_page_preview=True),
                what=f"sendMessage (pack link) to {user_id}",
            )
            toast = result.message
        except TelegramError as err:
            log.info("telegram: pack link to %s not delivered: %s", user_id, err.message)
            toast = f"{result.message} {result.link}"
        await best_effort(lambda: query.answer(toast[:200]), what="answerCallbackQuery")
