"""Posting room messages: store them in the history, then show them to everyone in the room.

The room never depends on the store. When a write fails (disk or database full, PostgreSQL
down) the message is still shown, with a negative id that marks it as not kept (reconnecting
pages don't catch up from it), and the failure is logged as one WARNING line per minute,
without a traceback: a sticker that was made is always delivered.
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

from adapters.web.history import ChatMessage, History
from adapters.web.rooms import Rooms
from bot.storage import DatabaseError

log = logging.getLogger("stickerbot.web")

STORE_WARN_EVERY_S = 60.0
STORE_ERRORS = (DatabaseError, OSError)


class Poster:
    def __init__(self, history: History, rooms: Rooms) -> None:
        self.history = history
        self.rooms = rooms
        self._unkept_ids = itertools.count(-1, -1)
        self._warned_at = -float("inf")
        self.failures = 0  # writes that failed since start (also what the warnings count)

    async def post(
        self,
        room: str,
        kind: str,
        user_id: str,
        user_name: str,
        text: str,
        *,
        sticker_sha256: str | None = None,
        record_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> ChatMessage:
        """Keep the message in the history (if the store lets us) and broadcast it to the room."""
        try:
            msg = await self.history.add(
                room,
                kind,
                user_id,
                user_name,
                text,
                sticker_sha256=sticker_sha256,
                record_id=record_id,
                meta=meta,
            )
        except STORE_ERRORS as exc:
            self._store_failed("message", exc)
            msg = ChatMessage(
                id=next(self._unkept_ids),
                room=room,
                ts_ms=int(time.time() * 1000),
                kind=kind,
                user_id=user_id,
                user_name=user_name,
                text=text,
                sticker_sha256=sticker_sha256,
                record_id=record_id,
                meta=dict(meta or {}),
            )
        live = self.rooms.peek(room)  # everyone may have left while a sticker was drawn
        if live is not None:
            live.broadcast("message", message=msg.to_wire())
        return msg

    async def keep_sticker(self, sha256: str, data: bytes) -> None:
        """Keep a sticker's bytes with the history; on failure it is still served from the sticker store."""
        try:
            await self.history.keep_sticker(sha256, data)
        except STORE_ERRORS as exc:
            self._store_failed("sticker copy", exc)

    def _store_failed(self, what: str, exc: Exception) -> None:
        self.failures += 1
        now = time.monotonic()
        if now - self._warned_at < STORE_WARN_EVERY_S:
            return
        self._warned_at = now
        reason = " ".join(str(exc).split())[:200]
        log.warning(
            "room history: could not store a %s (%s); the room keeps working, unsaved messages are shown "
            "but not kept (%d failed writes so far)",
            what,
            reason,
            self.failures,
        )
