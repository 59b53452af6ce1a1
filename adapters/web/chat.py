"""The chat room's WebSocket side: who may connect, joining, reading frames, leaving.

`ChatRoom.websocket` is the aiohttp handler for `/ws`. It checks the Host and Origin, reads the
hello, admits the connection within the per-address and per-room caps, and passes every later
frame to `FrameHandlers`; sticker requests run as `StickerJobs`. Errors are shown to the one
connection as a short notice or error frame; nothing a client does can take the server down.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time

from aiohttp import WSCloseCode, WSMsgType, web

from adapters.web.fanout import RoomFanout
from adapters.web.guards import AddressBook
from adapters.web.handlers import FrameHandlers, room_scope
from adapters.web.history import History
from adapters.web.identity import Identity
from adapters.web.jobs import StickerJobs
from adapters.web.posting import Poster
from adapters.web.protocol import (
    CLOSE_BAD_HELLO,
    CLOSE_GOING_AWAY,
    CLOSE_PROTOCOL,
    CLOSE_REFUSED,
    CLOSE_UNAUTHORIZED,
    MAX_NAME_CHARS,
    MAX_ROOM_CHARS,
    SESSION_RE,
    Hello,
    ProtocolError,
    clean_name,
    clean_room,
    parse_client_frame,
    server_frame,
)
from adapters.web.rooms import Client, Rooms
from adapters.web.teach import WebTeach
from bot.config import WebConfig
from bot.emoji import EMOJI_EXPRESSIONS, display_emoji
from bot.state.bus import LocalRoomBus
from bot.types import StickerServiceAPI

log = logging.getLogger("stickerbot.web")

HEARTBEAT_S = 30
CLOSE_TIMEOUT_S = 3.0  # how long a closing handshake may wait for the browser
RECENT_TRAY = 16
STOP_GRACE_S = 10.0  # default wait for stickers still being drawn when the server stops

# The picker's first row, in this order; the rest of the core's reaction table follows.
PICKER_FIRST = ("😂", "😍", "😮", "😢", "😡", "👍", "🎉", "😴", "🤔", "😎", "🥳", "😱", "❤", "🙏", "😭", "😊")
PICKER_SIZE = 24


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


class ChatSocket(web.WebSocketResponse):
    """A WebSocket that says why before closing on an oversized frame (aiohttp closes with a bare 1009)."""

    async def close(self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True) -> bool:
        if code == WSCloseCode.MESSAGE_TOO_BIG and not self.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                text = "That message is too big to send. Messages are short text only."
                await self.send_str(server_frame("error", code="too_big", text=text))
        return await super().close(code=code, message=message, drain=drain)


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
        self.fanout = RoomFanout(self.rooms, LocalRoomBus(), shared=False)  # the adapter may share it
        self.identity = Identity(config)
        self.book = AddressBook(config)
        self.poster = Poster(history, self.rooms)
        self.jobs = StickerJobs(service, history, self.rooms, self.poster, self.book)
        self.max_chars = max(1, config.max_message_chars)
        self.handlers = FrameHandlers(
            service, history, self.rooms, self.poster, self.jobs, max_chars=self.max_chars
        )
        self.teach = self.handlers.teach = WebTeach(self)
        # Room for the longest allowed text in the worst JSON escaping, plus the envelope.
        self.max_frame_bytes = max(4096, self.max_chars * 6 + 1024)
        self._emoji: list[str] | None = None
        self._closing = False

    # ------------------------------------------------------------------ connection lifecycle
    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if not _same_origin(request):
            raise web.HTTPForbidden(text="Cross-origin WebSocket connections are not allowed.")
        if self._closing:
            raise web.HTTPServiceUnavailable(text="The chat room is shutting down.")
        ws = ChatSocket(max_msg_size=self.max_frame_bytes, heartbeat=HEARTBEAT_S, timeout=CLOSE_TIMEOUT_S)
        await ws.prepare(request)
        address = self.identity.address(request)
        client: Client | None = None
        try:
            client = await self._handshake(ws, address)
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

    async def _handshake(self, ws: web.WebSocketResponse, address: str) -> Client | None:
        try:
            msg = await ws.receive(timeout=self.config.hello_timeout_s)
        except TimeoutError:
            await _close(ws, CLOSE_PROTOCOL, "timeout", "Expected a hello frame.")
            return None
        if msg.type != WSMsgType.TEXT:
            if msg.type == WSMsgType.BINARY:
                raise ProtocolError("binary frames are not part of the protocol")
            return None  # closed or errored (an oversized frame: ChatSocket already said so)
        frame = parse_client_frame(msg.data)
        if not isinstance(frame, Hello):
            raise ProtocolError("the first frame must be hello")

        if not self._token_ok(frame.token):
            await _close(ws, CLOSE_UNAUTHORIZED, "unauthorized", "This room needs a valid access token.")
            return None
        name = clean_name(frame.name)
        if name is None:
            text = f"Please pick a name of 1–{MAX_NAME_CHARS} characters."
            await _close(ws, CLOSE_BAD_HELLO, "bad_name", text)
            return None
        room_name = clean_room(frame.room or self.config.default_room)
        if room_name is None:
            text = f"Room names use a–z, 0–9, - and _ (up to {MAX_ROOM_CHARS} characters)."
            await _close(ws, CLOSE_BAD_HELLO, "bad_room", text)
            return None
        session = frame.session
        if session is None or SESSION_RE.fullmatch(session) is None:
            session = secrets.token_hex(16)
        live = self.rooms.peek(room_name)
        refusal = self.book.refusal(address, session, room_name, len(live.clients) if live else 0)
        if refusal is not None:
            await _close(ws, CLOSE_REFUSED, "refused", refusal)
            return None
        user_id = user_id_for(session)
        room = self.rooms.get(room_name)
        client = Client(
            ws=ws,
            user_id=user_id,
            name=room.unique_name(user_id, name),
            room=room_name,
            is_admin=self._is_admin(frame.token),
            address=address,
            session=session,
        )
        # Join first so nothing said while the history loads is lost: room events are held
        # back until the welcome has been queued (the page drops duplicates by message id).
        self.book.connected(address, session, room_name)
        first = self.rooms.join(client)
        try:
            welcome, sent_ids = await self._welcome(client, session, frame.last_id)
        except BaseException:
            self._leave(client)
            raise
        client.start_writer(welcome, sent_ids)
        if first:
            self.fanout.announce(room, "joined", client)
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
                "default_style": await self.service.default_style(room_scope(client.room)),
                "styles": [
                    {"name": s.name, "description": s.description, "subject": s.subject}
                    for s in self.service.styles()
                ],
                "emoji": self._reaction_emoji(),
                "max_chars": self.max_chars,
            },
            members=room.members(),
            count=room.member_count,
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
                break  # ERROR (an oversized frame: ChatSocket said so and closed) or CLOSE
            frame = parse_client_frame(msg.data)
            if not bucket.take():
                strikes += 1
                if strikes == 1:
                    client.send("notice", level="error", text="You're sending messages too fast. Slow down.")
                if strikes > bucket.capacity:
                    await client.finish()
                    await _close(client.ws, CLOSE_REFUSED, "rate_limited", "Too many messages.")
                    return
                continue
            strikes = 0
            await self.handlers.dispatch(client, frame)

    def _leave(self, client: Client) -> None:
        self.book.disconnected(client.address, client.session, client.room)
        room = self.rooms.leave(client)
        if room is not None:
            self.fanout.announce(room, "left", client)
        self.jobs.abandon(client)

    async def sticker_bytes(self, sha256: str) -> bytes | None:
        return await self.jobs.sticker_bytes(sha256)

    # ------------------------------------------------------------------ shutdown
    async def close(self) -> None:
        """Stop taking requests, let in-flight stickers finish (bounded), say goodbye to clients."""
        self._closing = True
        await self.jobs.close(self.stop_grace_s)
        clients = self.rooms.all_clients()
        await asyncio.gather(*(c.finish() for c in clients), return_exceptions=True)
        await asyncio.gather(
            *(c.ws.close(code=CLOSE_GOING_AWAY, message=b"server shutting down") for c in clients),
            return_exceptions=True,
        )


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
