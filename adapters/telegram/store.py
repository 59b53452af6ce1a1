"""The adapter's own durable state in the core's database: sticker file ids and pack names.

Tables live in the `telegram` migration namespace. When the service offers no database (a remote
service, a minimal test double), the same interface keeps the state in memory for the process.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from bot.state.access import database_for
from bot.storage.migrations import register_migrations

log = logging.getLogger(__name__)

NAMESPACE = "telegram"

register_migrations(
    NAMESPACE,
    [
        """CREATE TABLE telegram_file_ids (
            sha256 TEXT PRIMARY KEY,
            file_id TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL
        )""",
        """CREATE TABLE telegram_packs (
            user_id TEXT PRIMARY KEY,
            set_name TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL
        )""",
    ],
)


class _Database(Protocol):
    async def migrate(self, *namespaces: str) -> dict[str, int]: ...
    async def execute(self, sql: str, params: Any = ()) -> int: ...
    async def fetchone(self, sql: str, params: Any = ()) -> tuple[Any, ...] | None: ...


class TelegramStore:
    """sha256 → Telegram file_id, and user → sticker set name."""

    def __init__(self, database: _Database | None) -> None:
        self._db = database
        self._file_ids: dict[str, str] = {}  # read-through cache (and the store itself without a db)
        self._packs: dict[str, str] = {}

    @classmethod
    def for_service(cls, service: object) -> TelegramStore:
        database = database_for(service)
        if database is None:
            log.warning("telegram: the service has no database; file ids and packs are kept in memory")
        return cls(database)

    async def open(self) -> None:
        if self._db is not None:
            await self._db.migrate(NAMESPACE)

    async def file_id(self, sha256: str) -> str | None:
        cached = self._file_ids.get(sha256)
        if cached is not None or self._db is None:
            return cached
        row = await self._db.fetchone("SELECT file_id FROM telegram_file_ids WHERE sha256 = ?", (sha256,))
        if row is None:
            return None
        self._file_ids[sha256] = str(row[0])
        return str(row[0])

    async def remember_file_id(self, sha256: str, file_id: str) -> None:
        self._file_ids[sha256] = file_id
        if self._db is not None:
            await self._db.execute(
                "INSERT INTO telegram_file_ids (sha256, file_id, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (sha256) DO UPDATE SET file_id = excluded.file_id",
                (sha256, file_id, time.time()),
            )

    async def pack_name(self, user_id: str) -> str | None:
        cached = self._packs.get(user_id)
        if cached is not None or self._db is None:
            return cached
        row = await self._db.fetchone("SELECT set_name FROM telegram_packs WHERE user_id = ?", (user_id,))
        if row is None:
            return None
        self._packs[user_id] = str(row[0])
        return str(row[0])

    async def remember_pack(self, user_id: str, set_name: str) -> None:
        self._packs[user_id] = set_name
        if self._db is not None:
            await self._db.execute(
                "INSERT INTO telegram_packs (user_id, set_name, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET set_name = excluded.set_name",
                (user_id, set_name, time.time()),
            )
