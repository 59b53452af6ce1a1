"""Room history, stored in the core's database (SQLite or PostgreSQL) under the "web" migrations.

Chat, sticker and style-change messages are kept, the latest `web.history_limit` per room
(presence and placeholders are live-only). Sticker messages store the content hash; the
bytes are served at `/stickers/<sha256>.webp` from the service's sticker store, with a copy
kept here so history survives that store's LRU eviction. Message ids come from the database
(auto-increment): one increasing sequence over all rooms, which reconnecting clients use to
catch up.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from bot.storage import Database, DatabaseError, register_migrations

log = logging.getLogger("stickerbot.web")

MIGRATION_NAMESPACE = "web"
register_migrations(
    MIGRATION_NAMESPACE,
    [
        {
            "sqlite": """CREATE TABLE web_messages (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                room TEXT NOT NULL,
                ts_ms BIGINT NOT NULL,
                kind TEXT NOT NULL,
                user_id TEXT NOT NULL,
                user_name TEXT NOT NULL,
                text TEXT NOT NULL,
                sticker_sha256 TEXT,
                record_id TEXT,
                meta TEXT NOT NULL
            )""",
            "postgresql": """CREATE TABLE web_messages (
                id BIGSERIAL PRIMARY KEY,
                room TEXT NOT NULL,
                ts_ms BIGINT NOT NULL,
                kind TEXT NOT NULL,
                user_id TEXT NOT NULL,
                user_name TEXT NOT NULL,
                text TEXT NOT NULL,
                sticker_sha256 TEXT,
                record_id TEXT,
                meta TEXT NOT NULL
            )""",
        },
        "CREATE INDEX web_messages_room_id ON web_messages (room, id)",
        "CREATE INDEX web_messages_room_sticker ON web_messages (room, sticker_sha256)",
        "CREATE INDEX web_messages_room_record ON web_messages (room, record_id)",
        # Posted stickers are kept here too: the service's file store is an LRU cache, and a
        # room's history must not lose its pictures when that cache evicts them.
        {
            "sqlite": "CREATE TABLE web_stickers (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL)",
            "postgresql": "CREATE TABLE web_stickers (sha256 TEXT PRIMARY KEY, data BYTEA NOT NULL)",
        },
    ],
)

STICKER_SWEEP_EVERY = 100  # messages added between sweeps of unused sticker copies
_COLUMNS = "id, room, ts_ms, kind, user_id, user_name, text, sticker_sha256, record_id, meta"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    id: int
    room: str
    ts_ms: int
    kind: str  # "chat" | "sticker" | "system"
    user_id: str
    user_name: str
    text: str
    sticker_sha256: str | None = None
    record_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "ts": self.ts_ms,
            "kind": self.kind,
            "author": {"id": self.user_id, "name": self.user_name},
            "text": self.text,
        }
        if self.sticker_sha256:
            out["sticker"] = {
                "sha256": self.sticker_sha256,
                "url": sticker_url(self.sticker_sha256),
                "record_id": self.record_id,
                **{k: self.meta[k] for k in ("style", "emoji", "seed") if k in self.meta},
            }
        if "reply_to" in self.meta:
            out["reply_to"] = self.meta["reply_to"]
        return out


def sticker_url(sha256: str) -> str:
    return f"/stickers/{sha256}.webp"


def _from_row(row: Any) -> ChatMessage:
    mid, room, ts_ms, kind, user_id, user_name, text, sha, record_id, meta = tuple(row)
    try:
        meta_dict = json.loads(meta) if meta else {}
    except ValueError:
        meta_dict = {}
    return ChatMessage(
        id=int(mid),
        room=room,
        ts_ms=int(ts_ms),
        kind=kind,
        user_id=user_id,
        user_name=user_name,
        text=text,
        sticker_sha256=sha,
        record_id=record_id,
        meta=meta_dict if isinstance(meta_dict, dict) else {},
    )


class History:
    """The room history table. `open` applies the "web" migrations to the core's database."""

    def __init__(self, database: Database, *, limit: int) -> None:
        self._db = database
        self.limit = max(0, limit)  # messages kept (and shown on join) per room; 0 = no history
        self._inserts = 0

    async def open(self) -> None:
        await self._db.migrate(MIGRATION_NAMESPACE)

    async def add(
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
        ts_ms = int(time.time() * 1000)
        meta = dict(meta or {})
        rows = await self._db.fetchall(
            "INSERT INTO web_messages (room, ts_ms, kind, user_id, user_name, text, sticker_sha256, "
            "record_id, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                room,
                ts_ms,
                kind,
                user_id,
                user_name,
                text,
                sticker_sha256,
                record_id,
                json.dumps(meta, ensure_ascii=False),
            ),
        )
        message_id = int(rows[0][0])
        try:
            await self._prune(room)
        except DatabaseError:  # housekeeping: a full disk may refuse the delete; the message is kept
            log.debug("pruning the history of %s failed", room, exc_info=True)
        return ChatMessage(
            id=message_id,
            room=room,
            ts_ms=ts_ms,
            kind=kind,
            user_id=user_id,
            user_name=user_name,
            text=text,
            sticker_sha256=sticker_sha256,
            record_id=record_id,
            meta=meta,
        )

    async def _prune(self, room: str) -> None:
        """Keep the room's latest `limit` messages; now and then drop sticker copies no message uses."""
        rows = await self._db.fetchall(
            "SELECT id FROM web_messages WHERE room = ? ORDER BY id DESC LIMIT 1 OFFSET ?", (room, self.limit)
        )
        if rows:
            await self._db.execute("DELETE FROM web_messages WHERE room = ? AND id <= ?", (room, rows[0][0]))
        self._inserts += 1
        if self._inserts % STICKER_SWEEP_EVERY == 0:
            await self.sweep_stickers()

    async def sweep_stickers(self) -> int:
        """Delete kept sticker copies that no remaining message shows; returns how many."""
        return await self._db.execute(
            "DELETE FROM web_stickers WHERE sha256 NOT IN "
            "(SELECT sticker_sha256 FROM web_messages WHERE sticker_sha256 IS NOT NULL)"
        )

    async def recent(self, room: str) -> list[ChatMessage]:
        """The room's last `limit` messages, oldest first."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM web_messages WHERE room = ? ORDER BY id DESC LIMIT ?",
            (room, self.limit),
        )
        return [_from_row(r) for r in reversed(list(rows))]

    async def since(self, room: str, last_id: int) -> tuple[list[ChatMessage], bool]:
        """Messages after `last_id` for a reconnecting client, and whether that is surely all.

        Old messages are pruned to `limit`, so `limit` or more found means some may be gone:
        then the latest `limit` come back with False and the page starts its list afresh
        instead of showing a hole.
        """
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM web_messages WHERE room = ? AND id > ? ORDER BY id LIMIT ?",
            (room, last_id, self.limit),
        )
        messages = [_from_row(r) for r in rows]
        if len(messages) < self.limit:
            return messages, True
        return await self.recent(room), False

    async def get(self, room: str, message_id: int) -> ChatMessage | None:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM web_messages WHERE room = ? AND id = ?", (room, message_id)
        )
        return _from_row(rows[0]) if rows else None

    async def sticker_message(self, room: str, sha256: str) -> ChatMessage | None:
        """The room's latest message showing this sticker (re-sending is limited to these)."""
        return await self._latest(room, "sticker_sha256", sha256)

    async def record_message(self, room: str, record_id: str) -> ChatMessage | None:
        """The room's latest message made from this stored result (reroll / 4 more need one)."""
        return await self._latest(room, "record_id", record_id)

    async def _latest(self, room: str, column: str, value: str) -> ChatMessage | None:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM web_messages WHERE room = ? AND {column} = ? ORDER BY id DESC LIMIT 1",
            (room, value),
        )
        return _from_row(rows[0]) if rows else None

    async def keep_sticker(self, sha256: str, data: bytes) -> None:
        """Keep a posted sticker's bytes with the history (once per hash)."""
        await self._db.execute(
            "INSERT INTO web_stickers (sha256, data) VALUES (?, ?) ON CONFLICT (sha256) DO NOTHING",
            (sha256, data),
        )

    async def sticker_bytes(self, sha256: str) -> bytes | None:
        rows = await self._db.fetchall("SELECT data FROM web_stickers WHERE sha256 = ?", (sha256,))
        return bytes(rows[0][0]) if rows else None

    async def recent_stickers(self, room: str, limit: int = 16) -> list[str]:
        """Distinct sticker hashes posted in the room, newest first (the re-send tray)."""
        rows = await self._db.fetchall(
            "SELECT sticker_sha256, MAX(id) AS last_id FROM web_messages "
            "WHERE room = ? AND sticker_sha256 IS NOT NULL "
            "GROUP BY sticker_sha256 ORDER BY last_id DESC LIMIT ?",
            (room, limit),
        )
        return [str(r[0]) for r in rows]
