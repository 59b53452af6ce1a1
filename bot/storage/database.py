"""A small async database facade over SQLite (default) and PostgreSQL (psycopg 3).

Callers write SQL once with `?` placeholders; for PostgreSQL they are translated to `%s`.
SQLite runs on one dedicated thread (so the event loop never blocks) in WAL mode with
`synchronous=FULL`: a committed transaction survives a killed process. Statements and
transactions are serialised by an asyncio lock, so a transaction never interleaves with
another coroutine's statements.

Portable SQL that both engines accept: TEXT, INTEGER, BIGINT, DOUBLE PRECISION,
`INSERT … ON CONFLICT (…) DO UPDATE SET … = excluded.…`, `INSERT … RETURNING …`.
For the few differences (auto-increment ids, binary columns) a migration step may give one
statement per dialect (see `bot.storage.migrations`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

Dialect = Literal["sqlite", "postgresql"]
Params = Sequence[Any]
Row = tuple[Any, ...]
T = TypeVar("T")


class DatabaseError(Exception):
    """The database could not be opened or a statement failed; the message names the database."""


def sqlite_path(url: str) -> str:
    """`sqlite:///relative/path.db`, `sqlite:////abs/path.db` or `sqlite://:memory:` → a path for sqlite3."""
    if not url.startswith("sqlite://"):
        raise DatabaseError(f"not a sqlite URL: {redact_url(url)}")
    rest = url[len("sqlite://") :]
    if rest in (":memory:", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/") or rest == "/":
        raise DatabaseError(f"sqlite URL needs a path, e.g. sqlite:///data/stickerbot.db (got {url!r})")
    return rest[1:]


def redact_url(url: str) -> str:
    """The URL with any password replaced, for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def to_pyformat(sql: str) -> str:
    """Translate `?` placeholders to psycopg's `%s` (and escape literal `%`), skipping quoted text."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if quote is not None:
            if ch == quote:
                quote = None
            out.append("%%" if ch == "%" else ch)
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


class Transaction:
    """Statements run inside one `Database.transaction()`; committed together or not at all."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def dialect(self) -> Dialect:
        return self._db.dialect

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await self._db._execute_raw(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        await self._db._executemany_raw(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self._db._fetch_raw(sql, params, one=True)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._db._fetch_raw(sql, params, one=False)


class Database:
    """One connection to SQLite or PostgreSQL, used from asyncio.

    Open with `await Database.open(url)` (or `open_database`). Methods: `execute`,
    `executemany`, `fetchone`, `fetchall`, `transaction()` and `migrate()`.
    """

    def __init__(self, url: str, dialect: Dialect) -> None:
        self.url = url
        self.dialect: Dialect = dialect
        self._lock = asyncio.Lock()
        self._closed = False
        # SQLite
        self._sqlite: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        # PostgreSQL
        self._pg: Any = None

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    async def open(cls, url: str) -> Database:
        scheme = urlsplit(url).scheme
        if scheme == "sqlite":
            db = cls(url, "sqlite")
            await db._open_sqlite()
        elif scheme in ("postgresql", "postgres"):
            db = cls(url, "postgresql")
            await db._open_postgres()
        else:
            raise DatabaseError(
                f"unsupported storage.url {redact_url(url)!r}: use sqlite:///path or postgresql://…"
            )
        return db

    async def _open_sqlite(self) -> None:
        path = sqlite_path(self.url)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")

        def connect() -> sqlite3.Connection:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
            _enable_wal(conn)
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            return conn

        try:
            self._sqlite = await self._in_thread(connect)
        except (sqlite3.Error, OSError) as exc:
            self._thread.shutdown(wait=False)
            raise DatabaseError(f"cannot open SQLite database {self.url!r}: {exc}") from exc

    async def _open_postgres(self) -> None:
        import psycopg

        try:
            self._pg = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot connect to PostgreSQL at {redact_url(self.url)}: {exc}") from exc

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            if self._sqlite is not None:
                conn = self._sqlite
                await self._in_thread(conn.close)
                self._sqlite = None
            if self._thread is not None:
                self._thread.shutdown(wait=True)
            if self._pg is not None:
                await self._pg.close()
                self._pg = None

    @property
    def closed(self) -> bool:
        return self._closed

    async def migrate(self, *namespaces: str) -> dict[str, int]:
        """Apply pending registered migrations (all namespaces, or the ones named); returns versions."""
        from bot.storage.migrations import apply_migrations

        return await apply_migrations(self, namespaces or None)

    # ------------------------------------------------------------------ public statements
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement in its own transaction; returns the affected row count."""
        async with self._lock:
            await self._reconnect_if_broken()
            return await self._execute_raw(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self._lock:
            await self._reconnect_if_broken()
            rows = await self._fetch_raw(sql, params, one=True)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._lock:
            await self._reconnect_if_broken()
            return await self._fetch_raw(sql, params, one=False)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """`async with db.transaction() as tx:` — commit on success, roll back on any exception.

        Use only `tx` inside the block: calling `db.execute` there would wait for the lock the
        transaction holds."""
        async with self._lock:
            self._check_open()
            await self._reconnect_if_broken()
            if self.dialect == "sqlite":
                await self._sqlite_call(lambda c: c.execute("BEGIN IMMEDIATE"))
                try:
                    yield Transaction(self)
                except BaseException:
                    await self._sqlite_call(lambda c: c.execute("ROLLBACK"))
                    raise
                else:
                    await self._sqlite_call(lambda c: c.execute("COMMIT"))
            else:
                async with self._pg.transaction():
                    yield Transaction(self)

    # ------------------------------------------------------------------ internals (lock held)
    async def _reconnect_if_broken(self) -> None:
        """PostgreSQL: replace a connection the server dropped (restart, idle timeout) before use."""
        if self.dialect != "postgresql" or self._closed:
            return
        if self._pg is not None and not self._pg.broken and not self._pg.closed:
            return
        log.warning("reconnecting to PostgreSQL at %s", redact_url(self.url))
        if self._pg is not None:
            with contextlib.suppress(Exception):
                await self._pg.close()
        self._pg = None
        await self._open_postgres()

    def _check_open(self) -> None:
        if self._closed:
            raise DatabaseError("the database is closed")

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        assert self._thread is not None
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    async def _sqlite_call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        self._check_open()
        conn = self._sqlite
        assert conn is not None
        try:
            return await self._in_thread(lambda: fn(conn))
        except sqlite3.Error as exc:
            raise DatabaseError(f"SQLite error: {exc}") from exc

    async def _execute_raw(self, sql: str, params: Params) -> int:
        if self.dialect == "sqlite":
            return await self._sqlite_call(lambda c: c.execute(sql, tuple(params)).rowcount)
        self._check_open()
        async with self._pg.cursor() as cur:
            await self._pg_run(cur.execute(to_pyformat(sql), tuple(params)))
            return cur.rowcount

    async def _executemany_raw(self, sql: str, rows: Sequence[Params]) -> None:
        if self.dialect == "sqlite":
            await self._sqlite_call(lambda c: c.executemany(sql, [tuple(r) for r in rows]))
            return
        self._check_open()
        async with self._pg.cursor() as cur:
            await self._pg_run(cur.executemany(to_pyformat(sql), [tuple(r) for r in rows]))

    async def _fetch_raw(self, sql: str, params: Params, *, one: bool) -> list[Row]:
        if self.dialect == "sqlite":

            def run(c: sqlite3.Connection) -> list[Row]:
                cur = c.execute(sql, tuple(params))
                if one:
                    row = cur.fetchone()
                    cur.close()
                    return [tuple(row)] if row is not None else []
                return [tuple(r) for r in cur.fetchall()]

            return await self._sqlite_call(run)
        self._check_open()
        async with self._pg.cursor() as cur:
            await self._pg_run(cur.execute(to_pyformat(sql), tuple(params)))
            if cur.description is None:
                return []
            if one:
                row = await cur.fetchone()
                return [tuple(row)] if row is not None else []
            return [tuple(r) for r in await cur.fetchall()]

    async def _pg_run(self, awaitable: Any) -> None:
        import psycopg

        try:
            await awaitable
        except psycopg.Error as exc:
            raise DatabaseError(f"PostgreSQL error: {exc}") from exc


async def open_database(url: str, *, migrate: bool = True) -> Database:
    """Open the database at `url` and (by default) apply every registered migration."""
    db = await Database.open(url)
    if migrate:
        try:
            await db.migrate()
        except BaseException:
            await db.close()
            raise
    return db


def _enable_wal(conn: sqlite3.Connection, attempts: int = 50) -> None:
    """Switch to WAL. Two processes opening a new database at once can race on the journal-mode change,
    which SQLite reports as "locked" without waiting on the busy timeout, so retry briefly."""
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
