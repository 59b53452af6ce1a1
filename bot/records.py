"""Sticker records: what made a result, stored under a short id that buttons and callbacks carry."""

from __future__ import annotations

import secrets
import time

from bot.storage import Database, DatabaseError
from bot.types import StickerRecord

RECORD_ID_BYTES = 6  # 8 URL-safe characters: fits Telegram callback data and Discord custom ids easily
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def new_record_id() -> str:
    return secrets.token_urlsafe(RECORD_ID_BYTES)


def valid_record_id(record_id: str) -> bool:
    return 1 <= len(record_id) <= 16 and set(record_id) <= _ALPHABET


class RecordStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        *,
        platform: str,
        user_id: str,
        server: str,
        text: str,
        prompt: str,
        style: str,
        seed: int,
        count: int,
        emoji: str,
        sticker_hashes: tuple[str, ...],
    ) -> StickerRecord:
        for _attempt in range(5):
            record_id = new_record_id()
            try:
                await self._db.execute(
                    "INSERT INTO core_records (record_id, platform, user_id, server, text, prompt, style, "
                    "seed, count, emoji, hashes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record_id,
                        platform,
                        user_id,
                        server,
                        text,
                        prompt,
                        style,
                        seed,
                        count,
                        emoji,
                        " ".join(sticker_hashes),
                        time.time(),
                    ),
                )
            except DatabaseError:
                if await self.get(record_id) is None:
                    raise
                continue  # an id collision (astronomically rare): draw another
            return StickerRecord(
                record_id=record_id,
                platform=platform,
                user_id=user_id,
                text=text,
                prompt=prompt,
                style=style,
                seed=seed,
                count=count,
                emoji=emoji,
                sticker_hashes=sticker_hashes,
            )
        raise DatabaseError("could not allocate a record id")

    async def get(self, record_id: str) -> StickerRecord | None:
        if not valid_record_id(record_id):
            return None
        row = await self._db.fetchone(
            "SELECT record_id, platform, user_id, text, prompt, style, seed, count, emoji, hashes "
            "FROM core_records WHERE record_id = ?",
            (record_id,),
        )
        if row is None:
            return None
        rid, platform, user_id, text, prompt, style, seed, count, emoji, hashes = row
        return StickerRecord(
            record_id=str(rid),
            platform=str(platform),
            user_id=str(user_id),
            text=str(text),
            prompt=str(prompt),
            style=str(style),
            seed=int(seed),
            count=int(count),
            emoji=str(emoji),
            sticker_hashes=tuple(str(hashes).split()),
        )

    async def prune(self, older_than_s: float) -> int:
        """Delete records older than the given age; returns how many went."""
        return await self._db.execute(
            "DELETE FROM core_records WHERE created_at < ?", (time.time() - older_than_s,)
        )
