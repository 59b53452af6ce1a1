"""`/teach dog` then photos (or an album), progress by editing one message, `/forget dog` | `/forget all`.

After `/teach NAME` the user's next photos in that chat are collected; once none has arrived for
`settle_s` (an album comes as several messages at once), the photos go to `bot.teaching`. One status
message is then edited with a progress bar, and the preview sheet is sent when the subject is ready.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from adapters.telegram.commands import is_chat_admin
from adapters.telegram.context import PLATFORM, TelegramContext
from adapters.telegram.parsing import command_argument
from adapters.telegram.render import send_text
from bot.teaching import Photo, Teacher, TeachError, TeachProgress, TeachService
from bot.teaching.wiring import teaching_of

log = logging.getLogger(__name__)

TURNED_OFF = "Teaching your own subject is turned off here."
WINDOW_S = 600.0  # /teach waits this long for the photos
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # the Bot API's own getFile limit


@dataclass
class Collecting:
    name: str
    teacher: Teacher
    started: float = field(default_factory=time.monotonic)
    photos: list[Photo] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class TelegramTeach:
    def __init__(self, ctx: TelegramContext, settle_s: float = 2.0) -> None:
        self.ctx = ctx
        self.settle_s = settle_s
        self._collecting: dict[tuple[int, int], Collecting] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def teaching(self) -> TeachService | None:
        return teaching_of(self.ctx.service)

    async def _asked(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE
    ) -> tuple[Message, TeachService] | None:
        """The command's message and the teaching service; None when there is nothing to do (the
        user is told when teaching is off)."""
        message = update.effective_message
        if message is None or message.from_user is None:
            return None
        teaching = self.teaching
        if teaching is None:
            await send_text(context.bot, message.chat_id, message.message_id, TURNED_OFF)
            return None
        return message, teaching

    async def _teacher(self, context: ContextTypes.DEFAULT_TYPE, message: Message, *, admin: bool) -> Teacher:
        assert message.from_user is not None
        is_admin = admin and await is_chat_admin(context, message.chat, message.from_user, message)
        return Teacher(PLATFORM, str(message.chat_id), str(message.from_user.id), is_admin)

    async def teach(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        asked = await self._asked(update, context)
        if asked is None:
            return
        message, teaching = asked
        teacher = await self._teacher(context, message, admin=True)
        try:  # refuse what needs no photos (not allowed here, one at a time, limits) before asking
            name = await teaching.precheck(teacher, command_argument(message.text))
        except TeachError as err:
            await send_text(context.bot, message.chat_id, message.message_id, err.message)
            return
        assert message.from_user is not None
        self._collecting[(message.chat_id, message.from_user.id)] = Collecting(name, teacher)
        cfg = teaching.config
        text = (
            f"Send me {cfg.min_photos}–{cfg.max_photos} clear photos of your {name} (an album works): "
            "one subject, different angles."
        )
        await send_text(context.bot, message.chat_id, message.message_id, text)

    async def forget(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        asked = await self._asked(update, context)
        if asked is None:
            return
        message, teaching = asked
        who = await self._teacher(context, message, admin=False)
        arg = command_argument(message.text).strip()
        try:
            answer = await (teaching.forget_all(who) if arg.lower() == "all" else teaching.forget(who, arg))
        except TeachError as err:
            answer = err.message
        await send_text(context.bot, message.chat_id, message.message_id, answer)

    async def settings(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/teachsettings members off sharing server`: chat admins only (asked of the Bot API)."""
        asked = await self._asked(update, context)
        if asked is None:
            return
        message, teaching = asked
        who = await self._teacher(context, message, admin=True)
        try:
            answer = await teaching.change_server_settings_from(who, command_argument(message.text))
        except TeachError as err:
            answer = err.message
        await send_text(context.bot, message.chat_id, message.message_id, answer)

    async def photo(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A photo (or an image sent as a file) from someone who said /teach here: collect it."""
        message = update.effective_message
        if message is None or message.from_user is None:
            return
        key = (message.chat_id, message.from_user.id)
        pending = self._collecting.get(key)
        if pending is None or time.monotonic() - pending.started > WINDOW_S:
            self._collecting.pop(key, None)
            return
        photo = await self._download(context, message)
        if photo is not None:
            pending.photos.append(photo)
        if pending.timer is not None:
            pending.timer.cancel()
        loop = asyncio.get_running_loop()
        pending.timer = loop.call_later(self.settle_s, self._submit_later, key, context, message.chat_id)

    async def _download(self, context: ContextTypes.DEFAULT_TYPE, message: Message) -> Photo | None:
        if message.photo:
            item = message.photo[-1]  # the largest size
            file_id, size, name = item.file_id, item.file_size or 0, f"photo_{message.message_id}.jpg"
        elif message.document is not None:
            file_id, size = message.document.file_id, message.document.file_size or 0
            name = message.document.file_name or f"file_{message.message_id}"
        else:
            return None
        if size > MAX_DOWNLOAD_BYTES:
            return Photo(name, b"")  # refused by the photo checks, with its name
        try:
            file = await context.bot.get_file(file_id)
            return Photo(name, bytes(await file.download_as_bytearray()))
        except TelegramError as err:
            log.warning("telegram: could not download a teach photo: %s", err)
            return None

    def _submit_later(self, key: tuple[int, int], context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> None:
        pending = self._collecting.pop(key, None)
        if pending is None:
            return
        task = asyncio.create_task(self._submit(pending, context, chat_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _submit(self, pending: Collecting, context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> None:
        teaching = self.teaching
        if teaching is None:
            return
        bot = context.bot
        status = await send_text(bot, chat_id, None, f"Checking {len(pending.photos)} photos…")
        last = [status.text or ""]

        async def show(event: TeachProgress) -> None:
            text = progress_text(event)
            if text != last[0]:
                last[0] = text
                try:
                    await bot.edit_message_text(text, chat_id=chat_id, message_id=status.message_id)
                except TelegramError as err:
                    log.info("telegram: progress edit failed: %s", err)
            if event.status == "done" and event.preview:
                try:
                    await bot.send_photo(chat_id, event.preview, caption=f"Your {event.name}, in eight moods")
                except TelegramError as err:
                    log.info("telegram: preview upload failed: %s", err)

        try:
            accepted = await teaching.teach(pending.teacher, pending.name, pending.photos, show)
        except TeachError as err:
            await bot.edit_message_text(err.message, chat_id=chat_id, message_id=status.message_id)
            return
        await show(accepted)

    async def close(self) -> None:
        for pending in self._collecting.values():
            if pending.timer is not None:
                pending.timer.cancel()
        for task in list(self._tasks):
            task.cancel()


def progress_text(event: TeachProgress) -> str:
    if event.status == "running":
        filled = event.percent // 10
        return f"Learning your {event.name}: {'▓' * filled}{'░' * (10 - filled)} {event.percent}%"
    return event.message
