"""Photos for `/teach name:dog` sent in a later message: one that mentions the bot in the same channel,
or a DM to the bot, within `WINDOW_S`.

Discord delivers a message's content and attachments to a bot without the privileged
message-content intent when the message mentions the bot or is a DM, so this needs only the plain
GUILD_MESSAGES and DIRECT_MESSAGES intents (asked for only when teaching is on). One teach waits per
user; a new `/teach` replaces it. The subject belongs to the server where `/teach` was used, also
when the photos come by DM. The bot replies to the photo message and edits that reply with the
progress (its own message, so no interaction token runs out), then replies with the preview sheet.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import discord

from adapters.discord import errors
from adapters.discord.teach import ProgressView, download_all, teacher_of
from bot.teaching import Teacher, TeachError, TeachService

log = logging.getLogger(__name__)

WINDOW_S = 5 * 60.0  # how long a /teach without photos waits for them


@dataclass(frozen=True, slots=True)
class Waiting:
    name: str
    teacher: Teacher
    teaching: TeachService
    channel_id: int | None
    until: float


class TeachInbox:
    def __init__(self) -> None:
        self._waiting: dict[int, Waiting] = {}  # by user id

    async def expect(self, interaction: discord.Interaction, teaching: TeachService, name: str) -> None:
        """After a private defer: check what can be checked now, then ask for the photos."""
        who = teacher_of(interaction)
        try:
            name = await teaching.precheck(who, name)
        except TeachError as err:
            await errors.tell(interaction, err.message, deferred_privately=True)
            return
        now = time.monotonic()
        for user_id in [u for u, w in self._waiting.items() if w.until < now]:
            del self._waiting[user_id]
        waiting = Waiting(name, who, teaching, interaction.channel_id, now + WINDOW_S)
        self._waiting[interaction.user.id] = waiting
        cfg = teaching.config
        where = "here, mentioning me, or in a DM to me" if interaction.guild_id is not None else "here"
        text = (
            f"Send me {cfg.min_photos}–{min(cfg.max_photos, 10)} clear photos of your {name} as attachments "
            f"in your next message {where}, within {WINDOW_S / 60:.0f} minutes: "
            "one subject, different angles."
        )
        await errors.tell(interaction, text, deferred_privately=True)

    async def handle(self, client: discord.Client, message: discord.Message) -> None:
        """A message the bot can read: a DM, or one mentioning it. Others arrive without content."""
        me = client.user
        if me is None or message.author.bot or message.author.id == me.id:
            return
        direct = message.guild is None
        if not direct and me.id not in message.raw_mentions:
            return
        waiting = self._waiting.get(message.author.id)
        if waiting is not None and time.monotonic() > waiting.until:
            del self._waiting[message.author.id]
            if message.attachments:
                await _reply(message, "That /teach has expired; use /teach again, then send the photos.")
            return
        here = waiting is not None and (direct or message.channel.id == waiting.channel_id)
        if waiting is None or not here:
            if message.attachments:
                await _reply(message, "To teach me a subject, use /teach name:… first, then send the photos.")
            return
        if not message.attachments:
            await _reply(message, f"Attach the photos of your {waiting.name} to the message, please.")
            return
        del self._waiting[message.author.id]
        await self._teach(message, waiting)

    async def _teach(self, message: discord.Message, waiting: Waiting) -> None:
        photos = await download_all(list(message.attachments), waiting.teaching)
        status = await _reply(message, f"Checking {len(photos)} photos…")
        if status is None:
            return
        view = ReplyStatus(message, status)
        try:
            accepted = await waiting.teaching.teach(waiting.teacher, waiting.name, photos, view.show)
        except TeachError as err:
            await view.edit(err.message)
            return
        except Exception:  # the reply must not stay at "Checking…"; the log has the details
            log.exception("discord: teach from a message failed")
            await view.edit("Something went wrong while checking the photos; please try again later.")
            return
        await view.show(accepted)


class ReplyStatus(ProgressView):
    """The bot's reply to the photo message, edited with the progress; the preview as another reply."""

    def __init__(self, message: discord.Message, reply: discord.Message) -> None:
        super().__init__()
        self.message = message
        self.reply = reply

    async def edit(self, text: str) -> None:
        await self._edit(text)

    async def _edit(self, text: str) -> None:
        try:
            await self.reply.edit(content=text)
        except discord.HTTPException as exc:
            log.info("discord: teach progress edit failed: %s %s", exc.status, exc.code)

    async def _post(self, text: str, file: discord.File | None) -> None:
        await _reply(self.message, text, file)


async def _reply(
    message: discord.Message, text: str, file: discord.File | None = None
) -> discord.Message | None:
    kwargs = {"file": file} if file is not None else {}
    try:
        return await message.reply(text, mention_author=False, **kwargs)
    except discord.HTTPException as exc:
        log.info("discord: teach reply failed: %s %s", exc.status, exc.code)
        return None
