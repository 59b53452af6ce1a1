"""Feedback while a sticker is being made: "choosing a sticker…" and a "⏳ #3 in line" message.

Telegram shows a chat action for about five seconds, so it is repeated until the work is done.
The place in line is kept current by the core's `QueueNotice`, which sends the message once and
then edits it; `finish` removes it when the answer is out.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Bot
from telegram.constants import ChatAction
from telegram.error import TelegramError

from adapters.telegram.errors import best_effort, call_api, send_as_reply
from bot.progress import QueueNotice

log = logging.getLogger(__name__)


class Progress:
    def __init__(self, bot: Bot, chat_id: int, reply_to: int | None, *, action_every_s: float) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.reply_to = reply_to
        self.action_every_s = action_every_s
        self._action_task: asyncio.Task[None] | None = None
        self._queue = QueueNotice(self._show_queue_line)
        self._queue_message_id: int | None = None

    def start(self) -> None:
        self._action_task = asyncio.get_running_loop().create_task(self._repeat_action())

    def on_position(self, position: int) -> None:
        """The service's queue callback: 1-based place in line, 0 when drawing starts."""
        self._queue.update(position)

    async def finish(self) -> None:
        """Stop the chat action and remove the queue message (the sticker has arrived, or failed)."""
        if self._action_task is not None and not self._action_task.done():
            self._action_task.cancel()
            await asyncio.wait({self._action_task})
        await self._queue.close()
        if self._queue_message_id is not None:
            message_id = self._queue_message_id
            self._queue_message_id = None
            await best_effort(
                lambda: self.bot.delete_message(self.chat_id, message_id),
                what=f"deleteMessage (queue line) in {self.chat_id}",
            )

    async def _repeat_action(self) -> None:
        while True:
            await best_effort(
                lambda: self.bot.send_chat_action(self.chat_id, ChatAction.CHOOSE_STICKER),
                what=f"sendChatAction in {self.chat_id}",
            )
            await asyncio.sleep(self.action_every_s)

    async def _show_queue_line(self, text: str) -> bool:
        try:
            if self._queue_message_id is None:
                message = await send_as_reply(
                    lambda reply: self.bot.send_message(self.chat_id, text, reply_parameters=reply),
                    self.reply_to,
                    what=f"sendMessage (queue line) in {self.chat_id}",
                )
                self._queue_message_id = message.message_id
            else:
                message_id = self._queue_message_id
                await call_api(
                    lambda: self.bot.edit_message_text(text, self.chat_id, message_id),
                    what=f"editMessageText (queue line) in {self.chat_id}",
                )
        except TelegramError as err:
            log.info("telegram: queue line in %s not shown: %s", self.chat_id, err.message)
            return False
        return True
