"""Sending sticker files so that the same sticker is uploaded to Telegram at most once.

The first send of a sticker uploads its bytes and records the file_id Telegram returns
(sha256 → file_id, persisted by `TelegramStore`); every later send, inline answer or pack
addition uses the file_id. A per-hash lock makes concurrent sends of the same sticker wait for
the first upload instead of uploading twice.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from telegram import Bot, InputFile, Message

from adapters.telegram.errors import call_api
from adapters.telegram.store import TelegramStore
from bot.types import StickerFile


class StickerUploads:
    def __init__(self, store: TelegramStore, storage_chat_id: int | None) -> None:
        self.store = store
        self.storage_chat_id = storage_chat_id
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, sha256: str) -> asyncio.Lock:
        lock = self._locks.get(sha256)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[sha256] = lock
        return lock

    async def send(self, bot: Bot, chat_id: int, sticker: StickerFile, **kwargs: Any) -> Message:
        """sendSticker with the cached file_id, or an upload whose file_id is then remembered."""
        async with self._lock(sticker.sha256):
            file_id = await self.store.file_id(sticker.sha256)
            if file_id is not None:
                return await call_api(
                    lambda: bot.send_sticker(chat_id, file_id, **kwargs), what=f"sendSticker to {chat_id}"
                )
            message = await call_api(
                lambda: bot.send_sticker(chat_id, _input_file(sticker), **kwargs),
                what=f"sendSticker (upload) to {chat_id}",
            )
            if message.sticker is not None:
                await self.store.remember_file_id(sticker.sha256, message.sticker.file_id)
            return message

    async def file_id(self, bot: Bot, sticker: StickerFile) -> str | None:
        """The sticker's file_id, uploading it to the storage chat once if needed (None: no storage chat)."""
        async with self._lock(sticker.sha256):
            file_id = await self.store.file_id(sticker.sha256)
            if file_id is not None or self.storage_chat_id is None:
                return file_id
            storage_chat = self.storage_chat_id
            message = await call_api(
                lambda: bot.send_sticker(storage_chat, _input_file(sticker), disable_notification=True),
                what=f"sendSticker (upload) to storage chat {storage_chat}",
            )
            if message.sticker is None:
                return None
            await self.store.remember_file_id(sticker.sha256, message.sticker.file_id)
            return message.sticker.file_id


def _input_file(sticker: StickerFile) -> InputFile:
    return InputFile(sticker.data, filename=f"{sticker.sha256[:16]}.{sticker.format.value}")
