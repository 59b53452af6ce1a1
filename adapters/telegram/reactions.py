"""Reactions: reacting to a message with an emoji from the core's table (😂, 😢, …) makes the bot reply
to that message with a sticker of that expression. Other emoji, custom emoji and removed reactions
are ignored quietly. Telegram delivers these only when `message_reaction` is in allowed_updates and,
in groups, only to administrator bots.
"""

from __future__ import annotations

from telegram import ReactionTypeEmoji, Update
from telegram.ext import ContextTypes

from adapters.telegram.context import TelegramContext
from adapters.telegram.parsing import chat_request
from adapters.telegram.render import serve
from bot.types import RequestKind


class Reactions:
    def __init__(self, ctx: TelegramContext) -> None:
        self.ctx = ctx

    async def on_reaction(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        reaction = update.message_reaction
        if reaction is None or reaction.user is None:
            return  # anonymous (channel or anonymous admin) reactions carry no user to attribute
        old = {r.emoji for r in reaction.old_reaction if isinstance(r, ReactionTypeEmoji)}
        added = [
            r.emoji for r in reaction.new_reaction if isinstance(r, ReactionTypeEmoji) and r.emoji not in old
        ]
        emoji = next((e for e in added if self.ctx.service.expression_for(e) is not None), None)
        if emoji is None:
            return
        request = chat_request(reaction.chat, reaction.user, "", kind=RequestKind.REACTION, emoji=emoji)
        await serve(self.ctx, context.bot, request, reaction.chat.id, reaction.message_id)
