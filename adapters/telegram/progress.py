"""Feedback while a sticker is being made: "choosing a sticker…" and a "⏳ #3 in line" message.

Telegram shows a chat action for about five seconds, so it is repeated until the work is done.
Queue positions arrive from the service's callback; they are applied by one background task so the
callback never waits on the network (it may be called while the engine holds a slot).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import Bot, Message
from telegram.constants import ChatAction
from telegram.error import TelegramError

from adapters.telegram import texts
from adapters.telegram.errors import best_effort, call_api, send_as_reply

log = logging.getLogger(__name__)


class Progress:
    def __init__(self, bot: Bot, chat_id: int, reply_to: int | None, *, action_every_s: float) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.reply_to = reply_to
        self.action_every_s = action_every_s
        self._action_task: asyncio.Task[None] | None = None
        self._queue_task: asyncio.Task[None] | None = None
        self._wanted = 0
        self._shown = 0
        self._queue_message_id: int | None = None

    def start(self) -> None:
        self._action_task = asyncio.get_running_loop().create_task(self._repeat_action())

    def on_position(self, position: int) -> None:
        """The service's queue callback: 1-based place in line, 0 when drawing starts."""
        self._wanted = position
        if position > 0 and (self._queue_task is None or self._queue_task.done()):
            self._queue_task = asyncio.get_running_loop().create_task(self._sync_queue_message())

    async def finish(self) -> None:
        """Stop the chat action and remove the queue message (the sticker has arrived, or failed)."""
        self._wanted = 0
        for task in (self._action_task, self._queue_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
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

    async def _sync_queue_message(self) -> None:
        while self._wanted > 0 and self._wanted != self._shown:
            position = self._wanted
            text = texts.QUEUED.format(position=position)
            try:
                if self._queue_message_id is None:
                    message = await self._send_queue_message(text)
                    self._queue_message_id = message.message_id
                else:
                    message_id = self._queue_message_id
                    await call_api(
                        lambda text=text, message_id=message_id: self.bot.edit_message_text(
                            text, self.chat_id, message_id
                        ),
                        what=f"editMessageText (queue line) in {self.chat_id}",
                    )
            except TelegramError as err:
                log.info("telegram: queue line in %s not shown: %s", self.chat_id, err.message)
                return
            self._shown = position

    async def _send_queue_message(self, text: str) -> Message:
        return await send_as_reply(
            lambda reply: self.bot.send_message(self.chat_id, text, reply_parameters=reply),
            self.reply_to,
            what=f"sendMessage (queue line) in {self.chat_id}",
        )
