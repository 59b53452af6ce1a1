"""Real bot processes for the scale tests: `python -m tests.fakes.bot_process` (the `stickerbot run` path
with the fast fake engine) on its own web and metrics ports, sharing one PostgreSQL and one Redis."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.fakes.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class BotProcess:
    name: str
    config: Path
    web_port: int
    metrics_port: int
    delay_s: float = 0.0
    extra_args: tuple[str, ...] = ()
    proc: asyncio.subprocess.Process | None = None
    output: list[str] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    async def start(self, timeout_s: float = 90.0) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, "-m", "tests.fakes.bot_process", "--config", str(self.config)]
        self.proc = await asyncio.create_subprocess_exec(
            *cmd, "--delay", str(self.delay_s), *self.extra_args, cwd=self.config.parent, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        running = asyncio.Event()
        self._reader = asyncio.create_task(self._read(running))
        try:
            async with asyncio.timeout(timeout_s):
                await running.wait()
        except TimeoutError:
            raise AssertionError(f"{self.name} did not start:\n{self.text}") from None

    async def _read(self, running: asyncio.Event) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.output.append(line.decode(errors="replace"))
            if "stickerbot running" in self.output[-1]:
                running.set()

    @property
    def text(self) -> str:
        return "".join(self.output)

    async def metric(self, name: str) -> float:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{self.metrics_port}/metrics") as resp:
                body = await resp.text()
        total = 0.0
        for line in body.splitlines():
            if re.match(rf"^{re.escape(name)}(\{{.*\}})? ", line):
                total += float(line.rsplit(" ", 1)[1])
        return total

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(30):
                    await self.proc.wait()
            except TimeoutError:
                await self.kill()
        if self._reader is not None:
            await asyncio.wait({self._reader}, timeout=5)


def write_config(
    directory: Path,
    *,
    postgres_url: str,
    redis_url: str | None,
    limits: dict[str, Any] | None = None,
    extra: str = "",
) -> tuple[Path, int, int]:
    """A config for one process; each process has its own directory (its own local sticker cache)."""
    directory.mkdir(parents=True, exist_ok=True)
    web_port, metrics_port = free_port(), free_port()
    lim = {"user_per_minute": 600, "server_per_minute": 6000, "user_burst": 100, "server_burst": 1000}
    lim.update(limits or {})
    state = f"state:\n  url: {redis_url}\n  lease_ttl_s: 3.0\n  presence_ttl_s: 3.0\n" if redis_url else ""
    text = (
        "engine:\n  default_style: otter\n"
        f"storage:\n  url: {json.dumps(postgres_url)}\n  cache_dir: {directory}/cache\n"
        "limits:\n" + "".join(f"  {k}: {v}\n" for k, v in lim.items()) + "  shutdown_grace_s: 2.0\n"
        f"web:\n  port: {web_port}\n  messages_per_10s: 1000\n"
        "  max_connections_per_address: 1000\n  max_sessions_per_address: 1000\n"
        "  max_rooms_per_address: 1000\n  max_pending_per_address: 1000\n"
        f"metrics:\n  enabled: true\n  port: {metrics_port}\n"
        f"{state}{extra}"
    )
    path = directory / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path, web_port, metrics_port


class RoomClient:
    """A WebSocket client of the web chat room (the protocol in adapters/web/protocol.py)."""

    def __init__(
        self, base_url: str, *, session: str | None = None, room: str = "lobby", name: str = "t"
    ) -> None:
        self.base_url = base_url
        self.session_token = session or secrets.token_hex(16)
        self.room = room
        self.name = name
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self.welcome: dict[str, Any] = {}

    async def __aenter__(self) -> RoomClient:
        self._http = aiohttp.ClientSession()
        self._ws = await self._http.ws_connect(self.base_url + "/ws")
        await self.send("hello", name=self.name, room=self.room, session=self.session_token)
        self._task = asyncio.create_task(self._pump())
        self.welcome = await self.wait_for(lambda f: f["type"] == "welcome")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()

    async def _pump(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await self.frames.put(json.loads(msg.data))
        await self.frames.put({"type": "closed"})

    async def send(self, kind: str, **fields: Any) -> None:
        assert self._ws is not None
        await self._ws.send_str(json.dumps({"v": 1, "type": kind, **fields}))

    async def wait_for(self, predicate: Any, timeout_s: float = 30.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s):
            while True:
                frame = await self.frames.get()
                if frame["type"] in ("closed", "error"):
                    raise AssertionError(f"the room closed the connection: {frame}")
                if predicate(frame):
                    return frame

    async def sticker(self, prompt: str, timeout_s: float = 30.0) -> dict[str, Any]:
        """Ask for one sticker; returns the posted `message` frame or the error `notice`."""
        await self.send("sticker", prompt=prompt)
        return await self.wait_for(
            lambda f: (f["type"] == "message" and f["message"].get("author", {}).get("name") == self.name
                       and f["message"].get("text") == prompt and "sticker" in f["message"])
            or (f["type"] == "notice" and f.get("level") == "error"),
            timeout_s,
        )  # fmt: skip
