"""Durable storage shared by the core and the adapters: one small async `Database` (SQLite or
PostgreSQL by URL) and a registry of versioned, namespaced schema migrations."""

from bot.storage import schema as _core_schema  # noqa: F401  (registers the "core" namespace)
from bot.storage.database import Database, DatabaseError, open_database
from bot.storage.migrations import Migration, apply_migrations, register_migrations, registered_namespaces

__all__ = [
    "Database",
    "DatabaseError",
    "Migration",
    "apply_migrations",
    "open_database",
    "register_migrations",
    "registered_namespaces",
]
