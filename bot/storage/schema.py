"""The core's own tables (namespace "core"): settings, sticker records and the result index."""

from __future__ import annotations

from bot.storage.migrations import register_migrations

register_migrations(
    "core",
    [
        # 1: per-scope settings; conversation '' = the whole server.
        """CREATE TABLE core_settings (
            platform TEXT NOT NULL,
            server TEXT NOT NULL,
            conversation TEXT NOT NULL DEFAULT '',
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (platform, server, conversation, key)
        )""",
        # 2: results that buttons (reroll, more, add to pack) refer to by a short id.
        """CREATE TABLE core_records (
            record_id TEXT PRIMARY KEY,
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            server TEXT NOT NULL,
            text TEXT NOT NULL,
            prompt TEXT NOT NULL,
            style TEXT NOT NULL,
            seed BIGINT NOT NULL,
            count INTEGER NOT NULL,
            emoji TEXT NOT NULL,
            hashes TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX core_records_created ON core_records (created_at)",
        # 4: (prompt, style, seed, count, …) → content hashes of the stickers it produced.
        """CREATE TABLE core_result_index (
            cache_key TEXT PRIMARY KEY,
            hashes TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL
        )""",
    ],
)
