"""Live room state: who is connected, their display names, pending stickers, and broadcast.

Each connected client gets a bounded outgoing queue drained by its own writer task, so one
slow browser never holds up a broadcast; a client whose queue overflows is disconnected
(it reconnects and catches up from history).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from adapters.web.protocol import server_frame

log = logging.getLogger("stickerbot.web")

OUTGOING_QUEUE = 512
CLOSE_SLOW_CONSUMER = 4408


@dataclass(eq=False)
class Client:
    """One WebSocket connection of one user in one room."""

    ws: web.WebSocketResponse
    user_id: str
    name: str
    room: str
    is_admin: bool
    outgoing: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(OUTGOING_QUEUE))
    writer: asyncio.Task[None] | None = None
    offered: dict[str, frozenset[str]] = field(default_factory=dict)  # record_id -> candidate hashes
    # Room events that arrive while the welcome is being prepared: (frame, message id or None).
    held: list[tuple[str, int | None]] | None = field(default_factory=list)
    closer: asyncio.Future[Any] | None = None
    gone: bool = False  # the connection has ended; late replies are dropped
    address: str = ""  # the client's network address: what limits count against
    session: str = ""
    jobs: dict[asyncio.Task[None], bool] = field(default_factory=dict)  # sticker jobs -> private?

    def start_writer(self, first: str, already_sent: set[int]) -> None:
        """Send `first` (the welcome), then what the room said meanwhile, then live events.

        Messages the welcome already carries (`already_sent` ids) are not sent twice."""
        held, self.held = self.held or [], None
        self.send_raw(first)
        for frame, message_id in held:
            if message_id is None or message_id not in already_sent:
                self.send_raw(frame)
        self.writer = asyncio.create_task(self._write_loop(), name=f"web-writer-{self.user_id}")

    def send(self, kind: str, **fields: Any) -> None:
        self.send_raw(server_frame(kind, **fields))

    def send_raw(self, frame: str, message_id: int | None = None) -> None:
        if self.gone:
            return
        if self.held is not None:
            self.held.append((frame, message_id))
            return
        try:
            self.outgoing.put_nowait(frame)
        except asyncio.QueueFull:
            log.info("web client %s is too slow; disconnecting it", self.user_id)
            self._drop_queue()
            self.outgoing.put_nowait(None)
            self.closer = asyncio.ensure_future(self.ws.close(code=CLOSE_SLOW_CONSUMER, message=b"too slow"))

    def _drop_queue(self) -> None:
        while not self.outgoing.empty():
            self.outgoing.get_nowait()

    async def _write_loop(self) -> None:
        while True:
            frame = await self.outgoing.get()
            if frame is None or self.ws.closed:
                return
            try:
                await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return

    async def finish(self) -> None:
        """Stop the writer after it has flushed what is queued; later frames are dropped."""
        if self.writer is None or self.gone:
            self.gone = True
            return
        with contextlib.suppress(asyncio.QueueFull):
            self.outgoing.put_nowait(None)
        self.gone = True
        await asyncio.wait({self.writer}, timeout=2)
        if not self.writer.done():
            self.writer.cancel()


@dataclass
class Pending:
    """A sticker on its way: shown to the room as a placeholder with its place in line."""

    id: str
    author_id: str
    author_name: str
    prompt: str
    position: int | None = None  # 1-based place in line; 0 = being drawn; None = not known yet
    reply_to: dict[str, Any] | None = None
    private: bool = False  # shown to the requester only ("4 more")

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "author": {"id": self.author_id, "name": self.author_name},
            "prompt": self.prompt,
            "position": self.position,
        }
        if self.reply_to:
            out["reply_to"] = self.reply_to
        return out


MEMBERS_SHOWN = 200  # names listed in a welcome; presence frames then carry changes and the count


@dataclass
class Room:
    name: str
    clients: set[Client] = field(default_factory=set)
    pending: dict[str, Pending] = field(default_factory=dict)
    users: Counter[str] = field(default_factory=Counter)  # user id -> open connections (tabs)

    @property
    def member_count(self) -> int:
        return len(self.users)

    def members(self, limit: int = MEMBERS_SHOWN) -> list[dict[str, str]]:
        """Distinct users present (a user with two tabs is listed once), sorted by name, at most `limit`."""
        seen: dict[str, str] = {}
        for c in self.clients:
            seen.setdefault(c.user_id, c.name)
        ordered = sorted(seen.items(), key=lambda kv: kv[1].lower())[:limit]
        return [{"id": uid, "name": name} for uid, name in ordered]

    def unique_name(self, user_id: str, wanted: str) -> str:
        """`wanted`, or `wanted 2`, `wanted 3`… if another user in the room already uses it."""
        taken = {c.name.lower() for c in self.clients if c.user_id != user_id}
        if wanted.lower() not in taken:
            return wanted
        n = 2
        while f"{wanted} {n}".lower() in taken:
            n += 1
        return f"{wanted} {n}"

    def broadcast(self, kind: str, *, exclude: Iterable[Client] = (), **fields: Any) -> None:
        frame = server_frame(kind, **fields)
        message_id = fields["message"]["id"] if kind == "message" else None
        skip = set(exclude)
        for client in list(self.clients):
            if client not in skip:
                client.send_raw(frame, message_id)

    def announce(self, change: str, client: Client) -> None:
        """One presence change (`joined` / `left`) and the new count: a few bytes per member, not the list."""
        who = {"id": client.user_id, "name": client.name}
        self.broadcast("presence", count=self.member_count, **{change: who})


class Rooms:
    """All rooms with at least one connected client (empty rooms are forgotten)."""

    def __init__(self) -> None:
        self._rooms: dict[str, Room] = {}

    def get(self, name: str) -> Room:
        room = self._rooms.get(name)
        if room is None:
            room = self._rooms[name] = Room(name)
        return room

    def peek(self, name: str) -> Room | None:
        return self._rooms.get(name)

    def join(self, client: Client) -> bool:
        """Add the connection; True when its user was not in the room yet (another tab doesn't count)."""
        room = self.get(client.room)
        room.clients.add(client)
        room.users[client.user_id] += 1
        return room.users[client.user_id] == 1

    def leave(self, client: Client) -> Room | None:
        """Remove the connection; the room when its user has now left it (no tab still open)."""
        room = self._rooms.get(client.room)
        if room is None or client not in room.clients:
            return None
        room.clients.discard(client)
        room.users[client.user_id] -= 1
        gone = room.users[client.user_id] <= 0
        if gone:
            del room.users[client.user_id]
        self.forget_if_empty(client.room)
        return room if gone else None

    def forget_if_empty(self, name: str) -> None:
        room = self._rooms.get(name)
        if room is not None and not room.clients and not room.pending:
            del self._rooms[name]

    def all_clients(self) -> list[Client]:
        return [c for r in self._rooms.values() for c in r.clients]
