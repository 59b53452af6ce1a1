"""A throwaway PostgreSQL server for tests: the dev cluster's launcher (`bot.devcluster.servers`) in
scratch mode, plus a fresh schema per test.

`PostgresServer.start()` runs initdb into a fresh directory and starts the server on a free
127.0.0.1 port with a private socket directory (as root through `runuser -u postgres`: PostgreSQL
refuses to run as root). `new_database()` gives each test its own empty schema (selected by the
URL's search_path).
"""

from __future__ import annotations

import uuid

from bot.devcluster.servers import LocalPostgres, free_port

__all__ = ["PostgresServer", "free_port"]


class PostgresServer(LocalPostgres):
    def __init__(self) -> None:
        super().__init__(scratch=True, prefix="stickerbot-pg-")

    def start(self) -> PostgresServer:
        super().start()
        return self

    def new_database(self) -> str:
        """A fresh, empty namespace for one test; returns its URL.

        It is a schema selected through the connection's search_path (creating one is instant,
        unlike CREATE DATABASE), so every table a test creates lands in it."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.url}?options=-csearch_path%3D{name}"
