"""The chat room's WebSocket side: joining, chatting, and turning requests into stickers.

This is translation only: a frame becomes a neutral `StickerRequest` for the service, and
the `StickerReply` becomes room events. Errors are shown to the requester alone as a short
notice; nothing the service or a client does can take the server down.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from adapters.web.history import ChatMessage, History, sticker_url
from adapters.web.protocol import (
    CLOSE_BAD_HELLO,
    CLOSE_GOING_AWAY,
    CLOSE_PROTOCOL,
    CLOSE_RATE_LIMIT,
    CLOSE_UNAUTHORIZED,
    SESSION_RE,
    ClientFrame,
    ProtocolError,
    clean_name,
    clean_room,
    clean_text,
    is_record_id,
    is_sha256,
    parse_client_frame,
    server_frame,
)
from adapters.web.rooms import Client, Pending, Room, Rooms
from bot import messages
from bot.config import WebConfig
from bot.emoji import EMOJI_EXPRESSIONS, display_emoji
from bot.messages import failure_text
from bot.motion import split_motion
from bot.types import (
    RequestKind,
    Scope,
    ServiceError,
    StickerReply,
    StickerRequest,
    StickerServiceAPI,
)

log = logging.getLogger("stickerbot.web")

PLATFORM = "web"
HELLO_TIMEOUT_S = 15
HEARTBEAT_S = 30
CLOSE_TIMEOUT_S = 3.0  # how long a closing handshake may wait for the browser
MAX_PENDING_PER_USER = 3  # stickers one person may have on the way in a room
RECENT_TRAY = 16
STOP_GRACE_S = 10.0  # default wait for stickers still being drawn when the server stops

# The picker's first row, in this order; the rest of the core's reaction table follows.
PICKER_FIRST = ("😂", "😍", "😮", "😢", "😡", "👍", "🎉", "😴", "🤔", "😎", "🥳", "😱", "❤", "🙏", "😭", "😊")
PICKER_SIZE = 24

HELP_TEXT = (
    f"/sticker <what> — make a sticker, e.g. /sticker eating otter. {messages.options_hint()} · "
    "/style [NAME] — show or set the room's style · "
    f"click a sticker for {messages.BUTTON_REROLL}, {messages.BUTTON_MORE} and download · "
    "hover a message and press ☺ to react with a sticker."
)


class TokenBucket:
    """Per-connection frame budget: `capacity` frames, refilled over `period_s`."""

    def __init__(self, capacity: int, period_s: float = 10.0) -> None:
        self.capacity = max(1, capacity)
        self.rate = self.capacity / period_s
        self.tokens = float(self.capacity)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def user_id_for(session: str) -> str:
    """A stable public id for a secret session token (the token itself is never shown to others)."""
    return "w" + hashlib.sha256(session.encode()).hexdigest()[:15]


def reaction_emoji(service: StickerServiceAPI) -> list[str]:
    """The picker's emoji: from the core's emoji → expression table, popular ones first."""
    ordered = list(dict.fromkeys([*PICKER_FIRST, *EMOJI_EXPRESSIONS]))
    return [display_emoji(e) for e in ordered if service.expression_for(e) is not None][:PICKER_SIZE]


class ChatRoom:
    """Owns live rooms and history; `websocket` is the aiohttp handler for `/ws`."""

    def __init__(
        self,
        config: WebConfig,
        service: StickerServiceAPI,
        history: History,
        *,
        stop_grace_s: float = STOP_GRACE_S,
    ) -> None:
        self.config = config
        self.stop_grace_s = stop_grace_s
        self.service = service
        self.history = history
        self.rooms = Rooms()
        self.max_chars = max(1, config.max_message_chars)
        # Room for the longest allowed text in the worst JSON escaping, plus the envelope.
        self.max_frame_bytes = max(4096, self.max_chars * 6 + 1024)
        self._jobs: set[asyncio.Task[None]] = set()
        self._emoji: list[str] | None = None
        self._closing = False

    # ------------------------------------------------------------------ connection lifecycle
    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if not _same_origin(request):
            raise web.HTTPForbidden(text="Cross-origin WebSocket connections are not allowed.")
        if self._closing:
            raise web.HTTPServiceUnavailable(text="The chat room is shutting down.")
        ws = web.WebSocketResponse(
            max_msg_size=self.max_frame_bytes, heartbeat=HEARTBEAT_S, timeout=CLOSE_TIMEOUT_S
        )
        await ws.prepare(request)
        client: Client | None = None
        try:
            client = await self._handshake(ws)
            if client is not None:
                await self._serve(client)
        except ProtocolError as exc:
            await _close(ws, CLOSE_PROTOCOL, "protocol_error", f"Protocol error: {exc}")
        except Exception:
            log.exception("web connection failed")
            await _close(ws, 1011, "server_error", "Something went wrong on the server.")
        finally:
            if client is not None:
                self._leave(client)
                await client.finish()
            if not ws.closed:
                await ws.close()
        return ws

    async def _handshake(self, ws: web.WebSocketResponse) -> Client | None:
        try:
            msg = await ws.receive(timeout=HELLO_TIMEOUT_S)
        except TimeoutError:
            await _close(ws, CLOSE_PROTOCOL, "timeout", "Expected a hello frame.")
            return None
        if msg.type != WSMsgType.TEXT:
            if msg.type == WSMsgType.BINARY:
                raise ProtocolError("binary frames are not part of the protocol")
            return None  # closed or errored (e.g. an oversized frame: aiohttp already closed it)
        frame = parse_client_frame(msg.data, max_text_chars=self.max_chars)
        if frame.type != "hello":
            raise ProtocolError("the first frame must be hello")

        if not self._token_ok(frame.get("token")):
            await _close(ws, CLOSE_UNAUTHORIZED, "unauthorized", "This room needs a valid access token.")
            return None
        name = clean_name(frame.get("name", ""))
        if name is None:
            await _close(ws, CLOSE_BAD_HELLO, "bad_name", "Please pick a name of 1–32 characters.")
            return None
        raw_room = frame.get("room") or self.config.default_room
        room_name = clean_room(raw_room)
        if room_name is None:
            await _close(
                ws, CLOSE_BAD_HELLO, "bad_room", "Room names use a–z, 0–9, - and _ (up to 32 characters)."
            )
            return None
        session = frame.get("session")
        if not isinstance(session, str) or SESSION_RE.fullmatch(session) is None:
            session = secrets.token_hex(16)
        user_id = user_id_for(session)
        room = self.rooms.get(room_name)
        client = Client(
            ws=ws,
            user_id=user_id,
            name=room.unique_name(user_id, name),
            room=room_name,
            is_admin=self._is_admin(frame.get("token")),
        )
        # Join first so nothing said while the history loads is lost: room events are held
        # back until the welcome has been queued (the page drops duplicates by message id).
        self.rooms.join(client)
        try:
            welcome, sent_ids = await self._welcome(client, session, frame.get("last_id"))
        except BaseException:
            self._leave(client)
            raise
        client.start_writer(welcome, sent_ids)
        room.broadcast_presence()
        self._warn_if_unavailable(client)
        return client

    def _warn_if_unavailable(self, client: Client) -> None:
        """Tell someone joining once, up front, when stickers can't be made (e.g. no model).

        A grey system line: a sticker request then still gets the same sentence as its (red) answer."""
        health = getattr(self.service, "health", None)
        if health is None:
            return
        problem = health().problem
        if problem is not None:
            client.send("notice", level="info", text=problem.message)

    def _token_ok(self, token: str | None) -> bool:
        if self.config.access_token is None:
            return True
        return _token_matches(token, self.config.access_token) or self._is_admin_token(token)

    def _is_admin_token(self, token: str | None) -> bool:
        admin = self.config.admin_token
        return admin is not None and _token_matches(token, admin)

    def _is_admin(self, token: str | None) -> bool:
        """Everyone in a room may change its style unless an admin token is configured."""
        if self.config.admin_token is None:
            return True
        return self._is_admin_token(token)

    async def _welcome(self, client: Client, session: str, last_id: int | None) -> tuple[str, set[int]]:
        scope = _scope(client.room)
        if last_id is None:
            messages, reset = await self.history.recent(client.room), True
        else:
            messages, complete = await self.history.since(client.room, last_id)
            reset = not complete
        room = self.rooms.get(client.room)
        frame = server_frame(
            "welcome",
            you={"id": client.user_id, "name": client.name, "session": session, "admin": client.is_admin},
            room={
                "name": client.room,
                "default_style": await self.service.default_style(scope),
                "styles": [
                    {"name": s.name, "description": s.description, "subject": s.subject}
                    for s in self.service.styles()
                ],
                "emoji": self._reaction_emoji(),
                "max_chars": self.max_chars,
            },
            members=room.members(),
            history=[m.to_wire() for m in messages],
            reset=reset,
            pending=[p.to_wire() for p in room.pending.values() if not p.private],
            recent=await self.history.recent_stickers(client.room, RECENT_TRAY),
        )
        return frame, {m.id for m in messages}

    def _reaction_emoji(self) -> list[str]:
        if self._emoji is None:
            self._emoji = reaction_emoji(self.service)
        return self._emoji

    async def _serve(self, client: Client) -> None:
        bucket = TokenBucket(self.config.messages_per_10s)
        strikes = 0
        async for msg in client.ws:
            if msg.type == WSMsgType.BINARY:
                raise ProtocolError("binary frames are not part of the protocol")
            if msg.type != WSMsgType.TEXT:
                break  # ERROR (e.g. oversized frame, already closed by aiohttp) or CLOSE
            frame = parse_client_frame(msg.data, max_text_chars=self.max_chars)
            if not bucket.take():
                strikes += 1
                if strikes == 1:
                    client.send("notice", level="error", text="You're sending messages too fast. Slow down.")
                if strikes > bucket.capacity:
                    await client.finish()
                    await _close(client.ws, CLOSE_RATE_LIMIT, "rate_limited", "Too many messages.")
                    return
                continue
            strikes = 0
            await self._dispatch(client, frame)

    def _leave(self, client: Client) -> None:
        room = self.rooms.leave(client)
        if room is not None:
            room.broadcast_presence()

    # ------------------------------------------------------------------ frame handlers
    async def _dispatch(self, client: Client, frame: ClientFrame) -> None:
        match frame.type:
            case "chat":
                await self._on_chat(client, frame.get("text"))
            case "sticker":
                self._on_sticker(client, frame.get("prompt"), frame.get("style"))
            case "reroll" | "more":
                await self._on_reroll(client, frame.get("record_id"), more=frame.type == "more")
            case "pick":
                await self._on_pick(client, frame.get("record_id"), frame.get("sha256"))
            case "react":
                await self._on_react(client, frame.get("message_id"), frame.get("emoji"))
            case "set_style":
                await self._on_set_style(client, frame.get("style"))
            case "resend":
                await self._on_resend(client, frame.get("sha256"))
            case "animate":
                await self._on_animate(client, frame.get("record_id"), frame.get("sha256"))
            case "hello":
                raise ProtocolError("already joined")

    async def _on_chat(self, client: Client, raw: str) -> None:
        text = clean_text(raw)
        if not text:
            return
        if len(text) > self.max_chars:
            client.send("notice", level="error", text=f"Messages can be up to {self.max_chars} characters.")
            return
        if text.startswith("/"):
            command, _, rest = text.partition(" ")
            match command.lower():
                case "/sticker" | "/s":
                    self._on_sticker(client, rest, None)
                case "/style":
                    if rest.strip():
                        await self._on_set_style(client, rest.strip())
                    else:
                        await self._show_styles(client)
                case "/help":
                    client.send("notice", level="info", text=HELP_TEXT)
                case _:
                    client.send("notice", level="error", text=f"Unknown command {command[:40]}. Try /help.")
            return
        msg = await self.history.add(client.room, "chat", client.user_id, client.name, text)
        self._room(client).broadcast("message", message=msg.to_wire())

    def _on_sticker(self, client: Client, prompt: str, style: str | None) -> None:
        text = clean_text(prompt)
        request = self._request(client, RequestKind.COMMAND, text=text, style=style)
        self._start_job(client, request, label=text)

    async def _on_reroll(self, client: Client, record_id: str, *, more: bool) -> None:
        original = await self._posted_record(client, record_id)
        if original is None:
            return
        kind = RequestKind.VARIATIONS if more else RequestKind.REROLL
        request = self._request(client, kind, text=original.text, parent_id=record_id)
        action = messages.BUTTON_MORE if more else messages.BUTTON_REROLL
        label = f"{action}: {original.text}".strip(": ")
        self._start_job(client, request, label=label, private=more)

    async def _on_animate(self, client: Client, record_id: str, sha256: str) -> None:
        """🎬 Animate: the posted sticker (its seed names the candidate) as an animated WebP."""
        if await self._posted_record(client, record_id) is None:
            return
        record = await self.service.record(record_id)
        seed = None  # a record that is gone gets the core's own answer
        if record is not None:
            hashes = record.sticker_hashes
            seed = record.seed + (hashes.index(sha256) if sha256 in hashes else 0)
        request = self._request(client, RequestKind.ANIMATE, text="", parent_id=record_id, seed=seed)
        what = split_motion(record.text)[0] if record is not None else ""
        label = f"{messages.BUTTON_ANIMATE}: {what}".strip(": ")
        self._start_job(client, request, label=label)

    async def _on_pick(self, client: Client, record_id: str, sha256: str) -> None:
        if sha256 not in client.offered.get(record_id, frozenset()):
            client.send("notice", level="error", text="That choice has expired. Ask for 4 more again.")
            return
        record = await self.service.record(record_id)
        text = record.text if record is not None else ""
        meta: dict[str, Any] = {}
        if record is not None:
            meta = {"style": record.style, "emoji": record.emoji}
        await self._post_sticker(client, sha256, text=text, record_id=record_id, meta=meta)

    async def _on_react(self, client: Client, message_id: int, emoji: str) -> None:
        emoji = emoji.strip()
        if not emoji or len(emoji) > 16 or self.service.expression_for(emoji) is None:
            return  # not in the reaction table: ignored quietly, as on the other platforms
        target = await self.history.get(client.room, message_id)
        if target is None:
            client.send("notice", level="error", text="That message is no longer here.")
            return
        reply_to = {"id": target.id, "emoji": emoji, "name": target.user_name}
        request = self._request(client, RequestKind.REACTION, text="", emoji=emoji)
        self._start_job(client, request, label=emoji, reply_to=reply_to)

    async def _on_set_style(self, client: Client, style: str) -> None:
        style = clean_text(style)[:64]
        try:
            confirmation = await self.service.set_default_style(
                _scope(client.room), style, is_admin=client.is_admin
            )
        except ServiceError as exc:
            client.send("notice", level="error", text=exc.error.message)
            return
        new_style = await self.service.default_style(_scope(client.room))
        msg = await self.history.add(
            client.room,
            "system",
            client.user_id,
            client.name,
            confirmation,
            meta={"style": new_style},
        )
        room = self._room(client)
        room.broadcast("style", style=new_style, by={"id": client.user_id, "name": client.name})
        room.broadcast("message", message=msg.to_wire())

    async def _show_styles(self, client: Client) -> None:
        current = await self.service.default_style(_scope(client.room))
        names = ", ".join(s.name for s in self.service.styles())
        client.send("notice", level="info", text=f"Room style: {current}. Styles: {names}.")

    async def _on_resend(self, client: Client, sha256: str) -> None:
        if not is_sha256(sha256):
            raise ProtocolError("resend.sha256 must be a lowercase hex SHA-256")
        original = await self.history.sticker_message(client.room, sha256)
        if original is None:
            client.send("notice", level="error", text="Only stickers from this room can be re-sent.")
            return
        meta = {k: v for k, v in original.meta.items() if k in ("style", "emoji", "seed")}
        await self._post_sticker(client, sha256, text=original.text, record_id=original.record_id, meta=meta)

    # ------------------------------------------------------------------ sticker jobs
    def _request(self, client: Client, kind: RequestKind, **fields: Any) -> StickerRequest:
        return StickerRequest(
            platform=PLATFORM,
            user_id=client.user_id,
            conversation_id=client.room,
            server_id=client.room,
            kind=kind,
            **fields,
        )

    def _start_job(
        self,
        client: Client,
        request: StickerRequest,
        *,
        label: str,
        private: bool = False,
        reply_to: dict[str, Any] | None = None,
    ) -> None:
        room = self._room(client)
        mine = sum(1 for p in room.pending.values() if p.author_id == client.user_id)
        if mine >= MAX_PENDING_PER_USER:
            client.send("notice", level="error", text="You already have stickers on the way. One moment!")
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
        task = asyncio.create_task(self._run_job(client, room, request, pending))
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _run_job(self, client: Client, room: Room, request: StickerRequest, pending: Pending) -> None:
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
            room.pending.pop(pending.id, None)
            show("pending_end", id=pending.id)
            self.rooms.forget_if_empty(room.name)
        try:
            await self._deliver(client, reply, pending)
        except Exception:
            log.exception("posting sticker reply %s failed", request.request_id)
            client.send("notice", level="error", text=messages.UNEXPECTED)

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
        await self._post_sticker(
            client, sticker.sha256, text=request.text, record_id=reply.record_id, meta=meta, data=sticker.data
        )

    async def _post_sticker(
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
        await self.history.keep_sticker(sha256, data)
        msg = await self.history.add(
            client.room,
            "sticker",
            client.user_id,
            client.name,
            text,
            sticker_sha256=sha256,
            record_id=record_id,
            meta={k: v for k, v in meta.items() if v is not None},
        )
        room = self.rooms.peek(client.room)  # everyone may have left while it was drawn
        if room is not None:
            room.broadcast("message", message=msg.to_wire())
        return msg

    async def sticker_bytes(self, sha256: str) -> bytes | None:
        """A sticker's bytes: from the service's store, else the copy kept with the history."""
        data = await self.service.sticker_file(sha256)
        if data is None:
            data = await self.history.sticker_bytes(sha256)
        return data

    async def _posted_record(self, client: Client, record_id: str) -> ChatMessage | None:
        """The room's latest message carrying `record_id` (only stickers posted here can be rerolled)."""
        if not is_record_id(record_id):
            raise ProtocolError("record_id has an invalid format")
        original = await self.history.record_message(client.room, record_id)
        if original is None:
            client.send("notice", level="error", text="That sticker isn't in this room.")
        return original

    def _room(self, client: Client) -> Room:
        return self.rooms.get(client.room)

    # ------------------------------------------------------------------ shutdown
    async def close(self) -> None:
        """Stop taking requests, let in-flight stickers finish (bounded), say goodbye to clients."""
        self._closing = True
        if self._jobs:
            _done, still = await asyncio.wait(set(self._jobs), timeout=self.stop_grace_s)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still)
        clients = self.rooms.all_clients()
        await asyncio.gather(*(c.finish() for c in clients), return_exceptions=True)
        await asyncio.gather(
            *(c.ws.close(code=CLOSE_GOING_AWAY, message=b"server shutting down") for c in clients),
            return_exceptions=True,
        )


def _scope(room: str) -> Scope:
    return Scope(platform=PLATFORM, server=room)


def _token_matches(given: str | None, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


def _same_origin(request: web.Request) -> bool:
    """Browsers send Origin on WebSocket upgrades; refuse pages from other sites (CSWSH)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser (tests, scripts): the token check still applies
    host = request.headers.get("Host", "")
    return origin.split("://", 1)[-1].rstrip("/").lower() == host.lower()


async def _close(ws: web.WebSocketResponse, code: int, error: str, text: str) -> None:
    if ws.closed:
        return
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_str(server_frame("error", code=error, text=text))
    await ws.close(code=code, message=error.encode())
