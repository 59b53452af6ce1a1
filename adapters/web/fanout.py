"""Room events across bot processes: messages and presence go through the shared room bus.

With one process (no `state.url`) nothing changes: events are broadcast to the room's local
connections as before. With Redis, a message posted on any process is published on the bus and every
process (the poster's too) broadcasts it to its own connections; presence frames carry the number of
people in the room across all processes. History stays in the database, which every process shares.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from adapters.web.rooms import Client, Room, Rooms
from bot.state.bus import RoomBus

log = logging.getLogger("stickerbot.web")


class RoomFanout:
    def __init__(self, rooms: Rooms, bus: RoomBus, *, shared: bool) -> None:
        self.rooms = rooms
        self.bus = bus
        self.shared = shared
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self.shared:
            await self.bus.start(self._deliver)

    async def _deliver(self, room: str, event: dict[str, Any]) -> None:
        live = self.rooms.peek(room)
        kind, fields = event.get("kind"), event.get("fields")
        if live is not None and isinstance(kind, str) and isinstance(fields, dict):
            live.broadcast(kind, **fields)

    async def publish(self, room: str, kind: str, **fields: Any) -> None:
        """`kind` with `fields` to everyone in `room`, on every process."""
        if not self.shared:
            await self._deliver(room, {"kind": kind, "fields": fields})
            return
        await self.bus.publish(room, {"kind": kind, "fields": fields})

    def announce(self, room: Room, change: str, client: Client) -> None:
        """A presence change; with shared state the count is the room's across processes."""
        if not self.shared:
            room.announce(change, client)
            return
        task = asyncio.get_running_loop().create_task(self._announce(room.name, change, client))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _announce(self, room: str, change: str, client: Client) -> None:
        if change == "joined":
            await self.bus.join(room, client.user_id)
        else:
            await self.bus.leave(room, client.user_id)
        who = {"id": client.user_id, "name": client.name}
        await self.publish(room, "presence", count=await self.bus.count(room), **{change: who})
