"""Fixtures for the web chat room: the real adapter and the real service (FakeEngine), served by
aiohttp's test server on 127.0.0.1, and a small WebSocket peer that speaks protocol v1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.web import WebAdapter, create_adapter
from bot.config import AppConfig, StorageConfig, WebConfig
from tests.fakes.fake_engine import FakeEngine
from tests.fakes.service_factory import GENEROUS_LIMITS, make_service

RECV_TIMEOUT_S = 10.0


class Peer:
    """One browser tab's WebSocket, seen from the test."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.welcome: dict[str, Any] = {}
        self.members: dict[str, str] = {}  # as the page tracks them: the welcome's list + presence changes
        self.member_count = 0

    async def send(self, kind: str, **fields: Any) -> None:
        await self.ws.send_str(json.dumps({"v": 1, "type": kind, **fields}))

    async def recv(self, wait_s: float = RECV_TIMEOUT_S) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=wait_s)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"expected a text frame, got {msg.type!r} ({msg.data!r}, {msg.extra!r})")
        frame = json.loads(msg.data)
        assert frame["v"] == 1
        return frame

    async def expect(self, kind: str, wait_s: float = RECV_TIMEOUT_S, **match: Any) -> dict[str, Any]:
        """The next frame of `kind` (whose fields equal `match`), skipping others."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            frame = await self.recv(wait_s=max(0.01, deadline - loop.time()))
            if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame

    def _apply_presence(self, frame: dict[str, Any]) -> list[dict[str, str]]:
        if "joined" in frame:
            self.members[frame["joined"]["id"]] = frame["joined"]["name"]
        if "left" in frame:
            self.members.pop(frame["left"]["id"], None)
        self.member_count = frame["count"]
        ordered = sorted(self.members.items(), key=lambda kv: kv[1].lower())
        return [{"id": uid, "name": name} for uid, name in ordered]

    async def presence(self, names: list[str], wait_s: float = RECV_TIMEOUT_S) -> list[dict[str, str]]:
        """Wait until the presence changes (applied to the welcome's list) leave exactly `names`, by name."""
        while True:
            members = self._apply_presence(await self.expect("presence", wait_s=wait_s))
            if [m["name"] for m in members] == names:
                assert self.member_count == len(names)
                return members

    async def message(self, kind: str | None = None, wait_s: float = RECV_TIMEOUT_S) -> dict[str, Any]:
        """The next posted room message (optionally of a message kind: chat/sticker/system)."""
        while True:
            frame = await self.expect("message", wait_s=wait_s)
            if kind is None or frame["message"]["kind"] == kind:
                return frame["message"]

    async def closed(self, wait_s: float = RECV_TIMEOUT_S) -> tuple[int | None, list[dict[str, Any]]]:
        """Read until the server closes; returns the close code and the frames seen before it."""
        frames: list[dict[str, Any]] = []
        while True:
            msg = await self.ws.receive(timeout=wait_s)
            if msg.type == aiohttp.WSMsgType.TEXT:
                frames.append(json.loads(msg.data))
                continue
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                return self.ws.close_code, frames
            if msg.type == aiohttp.WSMsgType.ERROR:
                return self.ws.close_code, frames

    async def quiet(self, wait_s: float = 0.3) -> list[dict[str, Any]]:
        """Frames that arrive within `wait_s` (for checking that nothing private leaked)."""
        frames: list[dict[str, Any]] = []
        try:
            while True:
                frames.append(await self.recv(wait_s=wait_s))
        except TimeoutError:
            return frames

    async def close(self) -> None:
        await self.ws.close()


class ChatHarness:
    def __init__(self, client: TestClient, adapter: WebAdapter, service: Any, engine: FakeEngine) -> None:
        self.client = client
        self.adapter = adapter
        self.service = service
        self.engine = engine

    async def connect(self, **headers: str) -> Peer:
        ws = await self.client.ws_connect("/ws", headers=headers or None, autoclose=False)
        return Peer(ws)

    async def join(self, name: str, room: str = "", **hello: Any) -> Peer:
        peer = await self.connect()
        await peer.send("hello", name=name, room=room, **hello)
        peer.welcome = await peer.expect("welcome")
        peer.members = {m["id"]: m["name"] for m in peer.welcome["members"]}
        peer.member_count = peer.welcome["count"]
        return peer


Harness = Callable[..., Awaitable[ChatHarness]]


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[Harness]:
    """A factory: `await chat(web=WebConfig(...), engine=FakeEngine(...))` → a running room.

    Every room made in one test shares its database (SQLite under tmp_path, or `database_url`),
    so a second one stands for the server after a restart."""
    started: list[tuple[TestClient, Any]] = []

    async def start(
        web: WebConfig | None = None, engine: FakeEngine | None = None, database_url: str | None = None
    ) -> ChatHarness:
        engine = engine or FakeEngine()
        web = web or WebConfig(port=0)
        config = AppConfig(limits=GENEROUS_LIMITS, web=web)
        if database_url is not None:
            config = config.model_copy(update={"storage": StorageConfig(url=database_url)})
        service = await make_service(tmp_path, engine=engine, config=config)
        adapter = create_adapter(web, service, service.config)
        client = TestClient(TestServer(await adapter.build_app(), host="127.0.0.1"))
        await client.start_server()
        started.append((client, service))
        return ChatHarness(client, adapter, service, engine)

    yield start
    for client, service in reversed(started):
        await client.close()
        await service.close()
