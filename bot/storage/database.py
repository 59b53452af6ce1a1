"""A small async database facade over SQLite (default) and PostgreSQL (psycopg 3).

Callers write SQL once with `?` placeholders; for PostgreSQL they are translated to `%s`.
SQLite runs on one dedicated thread (so the event loop never blocks) in WAL mode with
`synchronous=FULL`: a committed transaction survives a killed process. Its statements and
transactions are serialised by an asyncio lock, so a transaction never interleaves with
another coroutine's statements. PostgreSQL runs on a `psycopg_pool.AsyncConnectionPool`:
concurrent requests use their own connections instead of queueing behind one, and a
transaction keeps one connection for its whole block.

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

    def __init__(self, db: Database, conn: Any = None) -> None:
        self._db = db
        self._conn = conn  # PostgreSQL: the pooled connection the transaction holds

    @property
    def dialect(self) -> Dialect:
        return self._db.dialect

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await self._db._execute_raw(sql, params, self._conn)

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        await self._db._executemany_raw(sql, rows, self._conn)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self._db._fetch_raw(sql, params, one=True, conn=self._conn)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._db._fetch_raw(sql, params, one=False, conn=self._conn)


class Database:
    """SQLite (one connection) or PostgreSQL (a connection pool), used from asyncio.

    Open with `await Database.open(url)` (or `open_database`). Methods: `execute`,
    `executemany`, `fetchone`, `fetchall`, `transaction()` and `migrate()`.
    """

    def __init__(self, url: str, dialect: Dialect, *, pool_size: int = 10) -> None:
        self.url = url
        self.pool_size = max(1, pool_size)
        self.dialect: Dialect = dialect
        self._lock = asyncio.Lock()
        self._closed = False
        # SQLite
        self._sqlite: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        # PostgreSQL
        self._pool: Any = None

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    async def open(cls, url: str, *, pool_size: int = 10) -> Database:
        scheme = urlsplit(url).scheme
        if scheme == "sqlite":
            db = cls(url, "sqlite")
            await db._open_sqlite()
        elif scheme in ("postgresql", "postgres"):
            db = cls(url, "postgresql", pool_size=pool_size)
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
        from psycopg_pool import AsyncConnectionPool

        try:  # one direct connection first: its error names the cause (the pool's would be a timeout)
            probe = await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot connect to PostgreSQL at {redact_url(self.url)}: {exc}") from exc
        await probe.close()
        self._pool = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=self.pool_size,
            kwargs={"autocommit": True},
            check=AsyncConnectionPool.check_connection,  # a connection the server dropped is replaced
            open=False,
            name="stickerbot",
        )
        await self._pool.open(wait=True, timeout=30)

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
            if self._pool is not None:
                await self._pool.close()
                self._pool = None

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
        if self.dialect == "postgresql":
            async with self._connection() as conn:
                return await self._execute_raw(sql, params, conn)
        async with self._lock:
            return await self._execute_raw(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params, _one=True)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = (), *, _one: bool = False) -> list[Row]:
        if self.dialect == "postgresql":
            async with self._connection() as conn:
                return await self._fetch_raw(sql, params, one=_one, conn=conn)
        async with self._lock:
            return await self._fetch_raw(sql, params, one=_one)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """`async with db.transaction() as tx:` — commit on success, roll back on any exception.

        Use only `tx` inside the block: calling `db.execute` there would wait for the lock the
        transaction holds."""
        if self.dialect == "postgresql":
            async with self._connection() as conn, conn.transaction():
                yield Transaction(self, conn)
            return
        async with self._lock:
            self._check_open()
            if self.dialect == "sqlite":
                await self._sqlite_call(lambda c: c.execute("BEGIN IMMEDIATE"))
                try:
                    yield Transaction(self)
                except BaseException:
                    await self._sqlite_call(lambda c: c.execute("ROLLBACK"))
                    raise
                else:
                    await self._sqlite_call(lambda c: c.execute("COMMIT"))

    # ------------------------------------------------------------------ internals (lock held)
    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """A pooled PostgreSQL connection for one statement or transaction."""
        import psycopg
        from psycopg_pool import PoolTimeout

        self._check_open()
        try:
            async with self._pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise DatabaseError(f"PostgreSQL at {redact_url(self.url)} gave no connection: {exc}") from exc
        except psycopg.OperationalError as exc:  # the connection broke mid-statement
            raise DatabaseError(f"PostgreSQL error: {exc}") from exc

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

    async def _execute_raw(self, sql: str, params: Params, conn: Any = None) -> int:
        if self.dialect == "sqlite":
            return await self._sqlite_call(lambda c: c.execute(sql, tuple(params)).rowcount)
        self._check_open()
        async with conn.cursor() as cur:
            await self._pg_run(cur.execute(to_pyformat(sql), tuple(params)))
            return cur.rowcount

    async def _executemany_raw(self, sql: str, rows: Sequence[Params], conn: Any = None) -> None:
        if self.dialect == "sqlite":
            await self._sqlite_call(lambda c: c.executemany(sql, [tuple(r) for r in rows]))
            return
        self._check_open()
        async with conn.cursor() as cur:
            await self._pg_run(cur.executemany(to_pyformat(sql), [tuple(r) for r in rows]))

    async def _fetch_raw(self, sql: str, params: Params, *, one: bool, conn: Any = None) -> list[Row]:
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
        async with conn.cursor() as cur:
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


async def open_database(url: str, *, migrate: bool = True, pool_size: int = 10) -> Database:
    """Open the database at `url` and (by default) apply every registered migration."""
    db = await Database.open(url, pool_size=pool_size)
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
