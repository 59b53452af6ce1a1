"""Versioned, namespaced schema migrations.

Every component owns a namespace and registers its ordered list of steps once, at import time:

    register_migrations("web", [
        "CREATE TABLE web_messages (id TEXT PRIMARY KEY, room TEXT NOT NULL, body TEXT NOT NULL)",
        "CREATE INDEX web_messages_room ON web_messages (room)",
    ])

Step N (1-based) is version N of that namespace. Steps are append-only: ship a new step to change
the schema, never edit an old one. A step is portable SQL, or a `{"sqlite": …, "postgresql": …}`
mapping where the dialects differ (auto-increment ids, binary columns). `apply_migrations` runs each
pending step in its own transaction together with its bookkeeping row in `schema_migrations`, so
a crash mid-upgrade leaves the schema at the last complete version. Name tables after the
namespace (`web_…`, `telegram_…`) so components never collide.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.storage.database import Database, Transaction

_NAMESPACE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step; `sql_for(dialect)` picks the statement for the open database."""

    namespace: str
    version: int
    sql: str | Mapping[str, str]

    def sql_for(self, dialect: str) -> str:
        if isinstance(self.sql, str):
            return self.sql
        try:
            return self.sql[dialect]
        except KeyError:
            raise ValueError(
                f"migration {self.namespace}#{self.version} has no statement for {dialect}"
            ) from None


_REGISTRY: dict[str, tuple[Migration, ...]] = {}

_BOOKKEEPING = """CREATE TABLE IF NOT EXISTS schema_migrations (
    namespace TEXT NOT NULL,
    version INTEGER NOT NULL,
    applied_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (namespace, version)
)"""


def register_migrations(namespace: str, steps: Sequence[str | Mapping[str, str]]) -> None:
    """Register (or extend) the ordered schema steps of `namespace`.

    Registering the same steps again is a no-op (modules may be imported twice); a list that
    changes an already registered step is an error, because databases may already hold it.
    """
    if not _NAMESPACE.match(namespace):
        raise ValueError(f"migration namespace must match {_NAMESPACE.pattern}: {namespace!r}")
    if not steps:
        raise ValueError(f"migration namespace {namespace!r} needs at least one step")
    new = tuple(
        Migration(namespace, i + 1, dict(s) if not isinstance(s, str) else s) for i, s in enumerate(steps)
    )
    old = _REGISTRY.get(namespace, ())
    for a, b in zip(old, new, strict=False):
        if a.sql != b.sql:
            raise ValueError(
                f"migration {namespace}#{a.version} was changed after registration; add a new step instead"
            )
    if len(new) >= len(old):
        _REGISTRY[namespace] = new


def registered_namespaces() -> list[str]:
    return sorted(_REGISTRY)


def migrations_for(namespace: str) -> tuple[Migration, ...]:
    return _REGISTRY.get(namespace, ())


async def _ensure_bookkeeping(db: Database) -> None:
    # Under a lock: PostgreSQL's CREATE TABLE IF NOT EXISTS is not safe against a concurrent twin.
    async with db.transaction() as tx:
        if db.dialect == "postgresql":
            await tx.execute("SELECT pg_advisory_xact_lock(?)", (_lock_key("schema_migrations"),))
        await tx.execute(_BOOKKEEPING)


async def current_versions(db: Database) -> dict[str, int]:
    """The applied version of every namespace in the database."""
    await _ensure_bookkeeping(db)
    rows = await db.fetchall("SELECT namespace, MAX(version) FROM schema_migrations GROUP BY namespace")
    return {str(ns): int(v) for ns, v in rows}


def _lock_key(namespace: str) -> int:
    return int.from_bytes(hashlib.sha256(namespace.encode()).digest()[:4], "big", signed=True)


async def _applied_version(tx: Transaction, namespace: str) -> int:
    row = await tx.fetchone("SELECT MAX(version) FROM schema_migrations WHERE namespace = ?", (namespace,))
    return int(row[0]) if row and row[0] is not None else 0


async def apply_migrations(db: Database, namespaces: Iterable[str] | None = None) -> dict[str, int]:
    """Apply every pending step of the given (default: all registered) namespaces.

    Safe to run from several processes at once: each step's transaction takes a lock
    (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory transaction lock) and re-reads the version.
    Returns the resulting version of each namespace.
    """
    import time

    await _ensure_bookkeeping(db)
    names = sorted(_REGISTRY) if namespaces is None else list(namespaces)
    result: dict[str, int] = {}
    for namespace in names:
        steps = _REGISTRY.get(namespace)
        if steps is None:
            raise ValueError(f"no migrations registered for namespace {namespace!r}")
        for step in steps:
            async with db.transaction() as tx:
                if db.dialect == "postgresql":
                    await tx.execute("SELECT pg_advisory_xact_lock(?)", (_lock_key(namespace),))
                if await _applied_version(tx, namespace) >= step.version:
                    continue
                await tx.execute(step.sql_for(db.dialect))
                await tx.execute(
                    "INSERT INTO schema_migrations (namespace, version, applied_at) VALUES (?, ?, ?)",
                    (namespace, step.version, time.time()),
                )
        async with db.transaction() as tx:
            result[namespace] = await _applied_version(tx, namespace)
    return result
