"""Sticker jobs: a request goes to the service as a background task, its reply becomes room events.

Each job shows a placeholder (with its place in line) while it waits, counts against its
user's and its address's share of stickers on the way, and is cancelled when its asker's
last connection to the room closes, so work for someone who left never reaches the model.
Jobs run under the shared `InFlight` tracker: a stop lets them finish (bounded), then cancels.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from typing import Any

from adapters.web.guards import AddressBook
from adapters.web.history import ChatMessage, History, sticker_url
from adapters.web.posting import Poster
from adapters.web.rooms import Client, Pending, Room, Rooms
from bot import messages
from bot.inflight import InFlight
from bot.messages import failure_text
from bot.types import RequestKind, StickerReply, StickerRequest, StickerServiceAPI

log = logging.getLogger("stickerbot.web")

PLATFORM = "web"
MAX_PENDING_PER_USER = 3  # stickers one person may have on the way in a room


class StickerJobs:
    def __init__(
        self,
        service: StickerServiceAPI,
        history: History,
        rooms: Rooms,
        poster: Poster,
        book: AddressBook,
    ) -> None:
        self.service = service
        self.history = history
        self.rooms = rooms
        self.poster = poster
        self.book = book
        self.inflight = InFlight("web sticker job")

    def request(self, client: Client, kind: RequestKind, **fields: Any) -> StickerRequest:
        """A request from `client`; limits count it against the client's address, not its chosen ids."""
        return StickerRequest(
            platform=PLATFORM,
            user_id=client.user_id,
            conversation_id=client.room,
            server_id=client.room,
            kind=kind,
            limits_key=client.address,
            **fields,
        )

    def start(
        self,
        client: Client,
        request: StickerRequest,
        *,
        label: str,
        private: bool = False,
        reply_to: dict[str, Any] | None = None,
    ) -> None:
        room = self.rooms.get(client.room)
        mine = sum(1 for p in room.pending.values() if p.author_id == client.user_id)
        if mine >= MAX_PENDING_PER_USER:
            client.send("notice", level="error", text="You already have stickers on the way. One moment!")
            return
        if not self.book.take_pending(client.address):
            client.send(
                "notice",
                level="error",
                text="Your network address already has several stickers on the way. One moment!",
            )
            return
        pending = Pending(
            id=uuid.uuid4().hex[:12],
            author_id=client.user_id,
            author_name=client.name,
            prompt=label[:200],
            reply_to=reply_to,
            private=private,
        )
        room.pending[pending.id] = pending  # counted at once, so a burst cannot pass the cap
        task = self.inflight.spawn(self._run(client, room, request, pending), name=f"web-job-{pending.id}")
        client.jobs[task] = private

        def done(task: asyncio.Task[None]) -> None:
            client.jobs.pop(task, None)
            self._settle(client, room, pending)  # also when cancelled before it ever ran

        task.add_done_callback(done)

    def abandon(self, client: Client) -> int:
        """The connection closed: cancel its jobs unless its user is still in the room (another tab).

        A private job ("4 more") only ever goes to that connection, so it is always cancelled."""
        room = self.rooms.peek(client.room)
        still_here = room is not None and room.users.get(client.user_id, 0) > 0
        cancelled = 0
        for task, private in list(client.jobs.items()):
            if task.done() or (still_here and not private):
                continue
            task.cancel()
            cancelled += 1
        if cancelled:
            log.info("cancelled %d sticker request(s) of a client that left", cancelled)
        return cancelled

    async def _run(self, client: Client, room: Room, request: StickerRequest, pending: Pending) -> None:
        def show(kind: str, **fields: Any) -> None:
            if pending.private:
                client.send(kind, **fields)
            else:
                room.broadcast(kind, **fields)

        async def on_position(position: int) -> None:
            pending.position = position
            show("pending", pending=pending.to_wire())

        show("pending", pending=pending.to_wire())
        try:
            reply = await self.service.handle(request, on_position)
        except Exception:
            log.exception("sticker request %s failed", request.request_id)
            client.send("notice", level="error", text=messages.FAILED)
            return
        finally:
            self._settle(client, room, pending)
        try:
            await self._deliver(client, reply, pending)
        except Exception:
            log.exception("posting sticker reply %s failed", request.request_id)
            client.send("notice", level="error", text=messages.UNEXPECTED)

    def _settle(self, client: Client, room: Room, pending: Pending) -> None:
        """The request is answered (or cancelled): drop its placeholder and its count, once."""
        if room.pending.pop(pending.id, None) is None:
            return
        self.book.release_pending(client.address)
        frame = {"id": pending.id}
        if pending.private:
            client.send("pending_end", **frame)
        else:
            room.broadcast("pending_end", **frame)
        self.rooms.forget_if_empty(room.name)

    async def _deliver(self, client: Client, reply: StickerReply, pending: Pending) -> None:
        failure = failure_text(reply)
        if failure is not None:
            client.send("notice", level="error", text=failure)
            return
        request = reply.request
        if len(reply.stickers) > 1 or request.kind == RequestKind.VARIATIONS:
            record_id = reply.record_id or ""
            hashes = [s.sha256 for s in reply.stickers]
            client.offered[record_id] = frozenset(hashes)
            client.send(
                "candidates",
                record_id=record_id,
                prompt=request.text or reply.prompt or "",
                stickers=[{"sha256": h, "url": sticker_url(h)} for h in hashes],
            )
            return
        sticker = reply.stickers[0]
        meta: dict[str, Any] = {"style": reply.style, "emoji": reply.emoji, "seed": sticker.seed}
        if pending.reply_to:
            meta["reply_to"] = pending.reply_to
        await self.post_sticker(
            client, sticker.sha256, text=request.text, record_id=reply.record_id, meta=meta, data=sticker.data
        )

    async def post_sticker(
        self,
        client: Client,
        sha256: str,
        *,
        text: str,
        record_id: str | None,
        meta: dict[str, Any],
        data: bytes | None = None,
    ) -> ChatMessage | None:
        if data is None:  # a re-send or a picked candidate: fetched by hash, so check it
            data = await self.sticker_bytes(sha256)
            if data is not None and hashlib.sha256(data).hexdigest() != sha256:
                data = None
        if data is None:
            client.send("notice", level="error", text=messages.STICKER_GONE)
            return None
        await self.poster.keep_sticker(sha256, data)
        return await self.poster.post(
            client.room,
            "sticker",
            client.user_id,
            client.name,
            text,
            sticker_sha256=sha256,
            record_id=record_id,
            meta={k: v for k, v in meta.items() if v is not None},
        )

    async def sticker_bytes(self, sha256: str) -> bytes | None:
        """A sticker's bytes: from the service's store, else the copy kept with the history."""
        data = await self.service.sticker_file(sha256)
        if data is None:
            data = await self.history.sticker_bytes(sha256)
        return data

    async def close(self, grace_s: float) -> None:
        """Let stickers being drawn finish (bounded by `grace_s`), then cancel what is left."""
        if not await self.inflight.drain(grace_s):
            abandoned = await self.inflight.cancel_all()
            log.warning("stopped with %d sticker job(s) unfinished", abandoned)
