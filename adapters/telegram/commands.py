"""Chat commands: /sticker, /style, /help, /start — and plain text in a private chat."""

from __future__ import annotations

import html
import logging

from telegram import Chat, Message, Update, User
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from adapters.telegram import texts
from adapters.telegram.context import TelegramContext
from adapters.telegram.errors import call_api
from adapters.telegram.parsing import chat_request, command_argument, is_private, scope_for
from adapters.telegram.render import send_text, serve
from adapters.telegram.start_links import StartLinks
from bot.types import ServiceError

log = logging.getLogger(__name__)

ADMIN_STATUSES = {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}


class Commands:
    def __init__(self, ctx: TelegramContext, links: StartLinks) -> None:
        self.ctx = ctx
        self.links = links

    async def sticker(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.from_user is None:
            return
        text = command_argument(message.text)
        if not text:
            await send_text(context.bot, message.chat_id, message.message_id, texts.USAGE, html=True)
            return
        await self._make(context, message, message.from_user, text)

    async def private_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """In a private chat any text is a sticker request."""
        message = update.effective_message
        if message is None or message.from_user is None or not message.text:
            return
        await self._make(context, message, message.from_user, message.text.strip())

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.from_user is None:
            return
        query = self.links.decode(context.args[0]) if context.args else None
        if query:
            await self._make(context, message, message.from_user, query)
            return
        greeting = texts.START.format(bot=html.escape(self.ctx.bot_username))
        await send_text(context.bot, message.chat_id, message.message_id, greeting, html=True)

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        body = texts.HELP.format(bot=html.escape(self.ctx.bot_username))
        await send_text(context.bot, message.chat_id, message.message_id, body, html=True)

    async def style(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.from_user is None:
            return
        name = command_argument(message.text)
        scope = scope_for(message.chat)
        if not name:
            await self._list_styles(context, message)
            return
        is_admin = await is_chat_admin(context, message.chat, message.from_user, message)
        try:
            answer = await self.ctx.service.set_default_style(scope, name.split()[0], is_admin=is_admin)
        except ServiceError as err:
            answer = err.error.message
        await send_text(context.bot, message.chat_id, message.message_id, answer)

    async def _list_styles(self, context: ContextTypes.DEFAULT_TYPE, message: Message) -> None:
        current = await self.ctx.service.default_style(scope_for(message.chat))
        lines = [texts.STYLE_LIST_HEADER.format(current=html.escape(current))]
        for info in self.ctx.service.styles():
            lines.append(f"• <b>{html.escape(info.name)}</b> — {html.escape(info.description)}")
        lines.append(texts.STYLE_LIST_FOOTER)
        await send_text(context.bot, message.chat_id, message.message_id, "\n".join(lines), html=True)

    async def _make(
        self, context: ContextTypes.DEFAULT_TYPE, message: Message, user: User, text: str
    ) -> None:
        request = chat_request(message.chat, user, text)
        await serve(self.ctx, context.bot, request, message.chat_id, message.message_id)


async def is_chat_admin(
    context: ContextTypes.DEFAULT_TYPE, chat: Chat, user: User, message: Message | None = None
) -> bool:
    """Anyone is the admin of their private chat; in groups ask the Bot API (never trust the client)."""
    if is_private(chat):
        return True
    if message is not None and message.sender_chat is not None and message.sender_chat.id == chat.id:
        return True  # an anonymous admin posting as the group itself
    try:
        member = await call_api(
            lambda: context.bot.get_chat_member(chat.id, user.id), what=f"getChatMember in {chat.id}"
        )
    except TelegramError as err:
        log.warning("telegram: admin check for user %s in chat %s failed: %s", user.id, chat.id, err)
        return False
    return member.status in ADMIN_STATUSES
