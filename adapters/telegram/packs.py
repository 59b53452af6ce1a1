"""Personal sticker sets: ➕ adds a sticker to `<prefix>_<userid>_by_<botusername>`, creating it first.

Telegram needs the user to have started the bot before a set can be made for them, allows 120
stickers in a static set, and set names are global: a name that is already taken (or a set we may not
add to) moves the user to the next fallback name, which is remembered for next time.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass

from telegram import Bot, InputFile, InputSticker, StickerSet, User
from telegram.constants import StickerFormat
from telegram.error import BadRequest, TelegramError

from adapters.telegram import texts
from adapters.telegram.context import TelegramContext
from adapters.telegram.errors import call_api, user_not_reachable
from bot.motion import split_motion
from bot.types import RequestKind, StickerFile, StickerRequest
from bot.types import StickerFormat as CoreFormat

log = logging.getLogger(__name__)

MAX_STATIC_STICKERS = 120
FALLBACK_NAMES = 3  # base name, then _2, _3
DEFAULT_EMOJI = "🙂"


@dataclass(frozen=True, slots=True)
class PackResult:
    ok: bool
    message: str  # for the user (callback answer or private message)
    set_name: str | None = None

    @property
    def link(self) -> str | None:
        return f"https://t.me/addstickers/{self.set_name}" if self.set_name else None


class _NameTaken(Exception):
    """The name is occupied by a set this user cannot add to."""


class Packs:
    def __init__(self, ctx: TelegramContext) -> None:
        self.ctx = ctx
        # One pack operation per user at a time: a double tap must not create two sets.
        self._user_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def set_name(self, user_id: int, attempt: int = 1) -> str:
        suffix = "" if attempt == 1 else f"_{attempt}"
        return f"{self.ctx.options.pack_prefix}_{user_id}{suffix}_by_{self.ctx.bot_username}"

    async def add(self, bot: Bot, user: User, record_id: str, index: int) -> PackResult:
        lock = self._user_locks.get(user.id)
        if lock is None:
            lock = self._user_locks[user.id] = asyncio.Lock()
        async with lock:
            return await self._add(bot, user, record_id, index)

    async def _add(self, bot: Bot, user: User, record_id: str, index: int) -> PackResult:
        record = await self.ctx.service.record(record_id)
        if record is None or not 0 <= index < len(record.sticker_hashes):
            return PackResult(False, texts.CALLBACK_EXPIRED)
        sha = record.sticker_hashes[index]
        motion = split_motion(record.text)[1]
        video: bytes | None = None
        if motion is not None:  # an animated result goes into the pack as a video sticker
            video_file = await self._video(user, record_id, record.seed + index, motion)
            if video_file is None:
                return PackResult(False, texts.CALLBACK_EXPIRED)
            sha, video = video_file.sha256, video_file.data
        file_id = await self.ctx.store.file_id(sha)
        sticker: str | InputFile
        if file_id is not None:
            sticker = file_id
        else:
            data = video if video is not None else await self.ctx.service.sticker_file(sha)
            if data is None:
                return PackResult(False, texts.CALLBACK_EXPIRED)
            sticker = InputFile(data, filename=f"{sha[:16]}.{'webm' if video is not None else 'webp'}")
        fmt = StickerFormat.VIDEO if video is not None else StickerFormat.STATIC
        item = InputSticker(sticker, [record.emoji or DEFAULT_EMOJI], fmt)
        remembered = await self.ctx.store.pack_name(str(user.id))
        names = [remembered] if remembered else []
        names += [
            n for n in (self.set_name(user.id, a) for a in range(1, FALLBACK_NAMES + 1)) if n not in names
        ]
        try:
            for name in names:
                try:
                    await self._add_to(bot, user, name, item)
                except _NameTaken:
                    log.info("telegram: sticker set name %s is taken; trying the next", name)
                    continue
                if name != remembered:
                    await self.ctx.store.remember_pack(str(user.id), name)
                return PackResult(True, texts.PACK_ADDED, name)
        except _PackFull:
            return PackResult(False, texts.PACK_FULL)
        except TelegramError as err:
            if user_not_reachable(err):
                return PackResult(False, texts.PACK_START_FIRST)
            log.warning("telegram: adding a sticker to %s's pack failed: %s", user.id, err.message)
            return PackResult(False, texts.PACK_FAILED)
        return PackResult(False, texts.PACK_NAME_TAKEN)

    async def _video(self, user: User, record_id: str, seed: int, motion: str) -> StickerFile | None:
        """The record's animation as a Telegram video sticker (from the core's cache when made before)."""
        reply = await self.ctx.service.handle(
            StickerRequest(
                platform="telegram",
                user_id=str(user.id),
                conversation_id=str(user.id),
                server_id=None,
                kind=RequestKind.ANIMATE,
                parent_id=record_id,
                seed=seed,
                animate=motion,
                formats=frozenset({CoreFormat.WEBM}),
            )
        )
        return next((f for f in reply.stickers if f.format is CoreFormat.WEBM), None)

    async def _add_to(self, bot: Bot, user: User, name: str, item: InputSticker) -> None:
        existing = await self._get_set(bot, name)
        if existing is None:
            title = f"{user.first_name}'s stickers"[:64]
            try:
                await call_api(
                    lambda: bot.create_new_sticker_set(user.id, name, title, [item]),
                    what=f"createNewStickerSet {name}",
                )
            except BadRequest as err:
                if "occupied" in err.message.lower() or "name_invalid" in err.message.lower():
                    raise _NameTaken from err
                raise
            return
        if len(existing.stickers) >= MAX_STATIC_STICKERS:
            raise _PackFull
        try:
            await call_api(
                lambda: bot.add_sticker_to_set(user.id, name, item), what=f"addStickerToSet {name}"
            )
        except BadRequest as err:
            message = err.message.lower()
            if "stickers_too_much" in message:
                raise _PackFull from err
            if "stickerset_invalid" in message:
                raise _NameTaken from err  # a set of that name exists but is not this user's
            raise

    async def _get_set(self, bot: Bot, name: str) -> StickerSet | None:
        try:
            return await call_api(lambda: bot.get_sticker_set(name), what=f"getStickerSet {name}")
        except BadRequest as err:
            if "stickerset_invalid" in err.message.lower():
                return None
            raise


class _PackFull(Exception):
    pass
