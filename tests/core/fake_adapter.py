"""A minimal adapter for driving the service: push a request, pop the reply.

It also satisfies the `Adapter` protocol and the `create_adapter` entry point, so the
composition root can start it like a real platform adapter.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bot.types import StickerReply, StickerRequest, StickerServiceAPI


class FakeAdapter:
    name = "fake"
    reply_timeout_s = 30.0  # a bound so a broken test fails instead of hanging

    def __init__(self, service: StickerServiceAPI) -> None:
        self.service = service
        self.replies: asyncio.Queue[StickerReply] = asyncio.Queue()
        self.positions: dict[str, list[int]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.started = False
        self.accepting = False

    def push(self, request: StickerRequest) -> asyncio.Task[None]:
        """Handle a request in the background, as an adapter does for a platform event."""
        if not self.accepting and self.started:
            raise RuntimeError("adapter stopped")
        positions = self.positions.setdefault(request.request_id, [])

        async def run() -> None:
            reply = await self.service.handle(request, on_position=positions.append)
            await self.replies.put(reply)

        task = asyncio.get_running_loop().create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def pop(self) -> StickerReply:
        async with asyncio.timeout(self.reply_timeout_s):
            return await self.replies.get()

    async def ask(self, request: StickerRequest) -> StickerReply:
        self.push(request)
        return await self.pop()

    async def start(self) -> None:
        self.started = True
        self.accepting = True

    async def stop(self) -> None:
        self.accepting = False
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=30)


class FakeAdapterModule:
    """Stands in for an `adapters.<name>` package in `bot.app.App(adapter_modules=…)`."""

    def __init__(self) -> None:
        self.created: list[FakeAdapter] = []
        self.sections: list[Any] = []

    def create_adapter(self, section: Any, service: StickerServiceAPI, app_config: Any) -> FakeAdapter:
        adapter = FakeAdapter(service)
        self.created.append(adapter)
        self.sections.append(section)
        return adapter
