"""The real web room on a real socket (127.0.0.1, port 0) for the reliability tests.

`running_room` starts `WebAdapter.start()` as `stickerbot run` does (TCP site, socket guards,
the real service on the FakeEngine) and hands back a `LiveRoom` that connects WebSocket peers
over real TCP, with any headers (Host, Origin, X-Forwarded-For) a test wants to send.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from adapters.web import WebAdapter, create_adapter
from bot.config import AppConfig, LimitsConfig, StorageConfig, WebConfig
from bot.storage import Database, DatabaseError
from tests.fakes.fake_engine import FakeEngine
from tests.fakes.service_factory import GENEROUS_LIMITS, make_service
from tests.web.conftest import Peer


class LiveRoom:
    def __init__(self, adapter: WebAdapter, service: Any, engine: FakeEngine, http: aiohttp.ClientSession):
        self.adapter = adapter
        self.service = service
        self.engine = engine
        self.http = http
        self.port = adapter.port
        self.url = f"http://127.0.0.1:{adapter.port}"

    @property
    def chat(self) -> Any:
        return self.adapter.chat

    async def connect(self, **headers: str) -> Peer:
        ws = await self.http.ws_connect(f"{self.url}/ws", headers=headers or None, autoclose=False)
        return Peer(ws)

    async def join(
        self, name: str, room: str = "", headers: dict[str, str] | None = None, **hello: Any
    ) -> Peer:
        peer = await self.connect(**(headers or {}))
        await peer.send("hello", name=name, room=room, **hello)
        peer.welcome = await peer.expect("welcome")
        peer.members = {m["id"]: m["name"] for m in peer.welcome["members"]}
        peer.member_count = peer.welcome.get("count", len(peer.members))
        return peer

    async def raw(self, data: bytes, *, read_s: float = 5.0) -> bytes:
        """Send raw bytes on a fresh socket; what the server answers before closing (or within read_s)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(data)
            await writer.drain()
            return await asyncio.wait_for(reader.read(), read_s)
        finally:
            writer.close()


@asynccontextmanager
async def running_room(
    tmp_path: Path,
    *,
    web: WebConfig | None = None,
    engine: FakeEngine | None = None,
    limits: LimitsConfig | None = None,
    database_url: str | None = None,
) -> AsyncIterator[LiveRoom]:
    engine = engine or FakeEngine()
    web = web or WebConfig(port=0)
    config = AppConfig(limits=limits or GENEROUS_LIMITS, web=web)
    if database_url is not None:
        config = config.model_copy(update={"storage": StorageConfig(url=database_url)})
    service = await make_service(tmp_path, engine=engine, config=config)
    adapter = create_adapter(web, service, service.config)
    await adapter.start()
    http = aiohttp.ClientSession()
    try:
        yield LiveRoom(adapter, service, engine, http)
    finally:
        await http.close()
        await adapter.stop()
        await service.close()


async def fill_sqlite(db: Database) -> None:
    """Make the SQLite database full, as on a full disk: no page may be added, and the free space in
    the pages it has is packed, so the next history write fails with "database or disk is full"."""
    pages = (await db.fetchall("PRAGMA page_count"))[0][0]
    await db.execute(f"PRAGMA max_page_count = {int(pages)}")
    inserts = [
        (
            "INSERT INTO web_messages (room, ts_ms, kind, user_id, user_name, text, meta) "
            "VALUES ('zz-filler', 0, 'chat', '', '', ?, '')",
            lambda n: ("x" * n,),
        ),
        ("INSERT INTO web_stickers (sha256, data) VALUES (?, ?)", lambda n: (os.urandom(32).hex(), b"x" * n)),
    ]
    for sql, params in inserts:
        for size in (4096, 512, 64, 8, 0):
            for _ in range(10_000):  # bounded; a few dozen rows fill what is left
                try:
                    await db.execute(sql, params(size))
                except DatabaseError as exc:
                    assert "full" in str(exc)
                    break
