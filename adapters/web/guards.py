"""Bounds on what one client address may hold, and on the server's sockets as a whole.

`AddressBook` counts, per address, the live WebSocket connections, the distinct sessions and
rooms they use, and the stickers on the way, so a flood from one address meets a clear refusal
long before it can crowd out the others. `cap_sockets` closes sockets over `web.max_connections`
with a plain 503, and `QuietErrors` turns aiohttp's per-request tracebacks for malformed HTTP
(an over-long URL or header: `LineTooLong`) into one rate-limited WARNING line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from bot.config import WebConfig

log = logging.getLogger("stickerbot.web")

BAD_REQUEST_LOG_EVERY_S = 60.0
_BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 35\r\n"
    b"Connection: close\r\n\r\nToo many connections; retry later.\n"
)


@dataclass
class _Usage:
    connections: int = 0
    sessions: Counter[str] = field(default_factory=Counter)
    rooms: Counter[str] = field(default_factory=Counter)
    pending: int = 0

    @property
    def idle(self) -> bool:
        return self.connections == 0 and self.pending == 0


class AddressBook:
    """Live per-address usage; `refusal` says why a new connection may not join, else None."""

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self._by_address: dict[str, _Usage] = {}

    def _usage(self, address: str) -> _Usage:
        return self._by_address.setdefault(address, _Usage())

    def refusal(self, address: str, session: str, room: str, room_size: int) -> str | None:
        c = self.config
        usage = self._by_address.get(address, _Usage())
        if usage.connections >= c.max_connections_per_address:
            return f"Too many connections from your address (at most {c.max_connections_per_address})."
        if session not in usage.sessions and len(usage.sessions) >= c.max_sessions_per_address:
            return f"Too many sessions from your address (at most {c.max_sessions_per_address})."
        if room not in usage.rooms and len(usage.rooms) >= c.max_rooms_per_address:
            return f"You are in too many rooms at once (at most {c.max_rooms_per_address})."
        if room_size >= c.max_connections_per_room:
            return f"This room is full ({c.max_connections_per_room} connections). Try again later."
        return None

    def connected(self, address: str, session: str, room: str) -> None:
        usage = self._usage(address)
        usage.connections += 1
        usage.sessions[session] += 1
        usage.rooms[room] += 1

    def disconnected(self, address: str, session: str, room: str) -> None:
        usage = self._by_address.get(address)
        if usage is None:
            return
        usage.connections -= 1
        usage.sessions -= Counter({session: 1})
        usage.rooms -= Counter({room: 1})
        self._forget_if_idle(address, usage)

    def take_pending(self, address: str) -> bool:
        """Count one more sticker on the way for `address`, unless it already has its share."""
        usage = self._usage(address)
        if usage.pending >= self.config.max_pending_per_address:
            self._forget_if_idle(address, usage)
            return False
        usage.pending += 1
        return True

    def release_pending(self, address: str) -> None:
        usage = self._by_address.get(address)
        if usage is not None:
            usage.pending -= 1
            self._forget_if_idle(address, usage)

    def _forget_if_idle(self, address: str, usage: _Usage) -> None:
        if usage.idle:
            self._by_address.pop(address, None)

    def __len__(self) -> int:
        return len(self._by_address)


def cap_sockets(server: web.Server, limit: int) -> None:
    """Answer sockets beyond `limit` open ones with a 503 and close them at once.

    aiohttp has no connection cap of its own; its `Server` is told of every new socket, so the
    check wraps that notification (the handler's own bookkeeping then never sees the socket)."""
    made = server.connection_made

    def connection_made(handler: Any, transport: asyncio.Transport) -> None:
        if len(server.connections) >= limit:
            transport.write(_BUSY_RESPONSE)
            transport.close()
            return
        made(handler, transport)

    server.connection_made = connection_made  # type: ignore[method-assign]


class QuietErrors(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server logger, minus the traceback for malformed HTTP from clients.

    A request line or header over aiohttp's limits (`LineTooLong`) or otherwise unparsable is the
    client's problem: one WARNING line per `every_s`, with how many were dropped meanwhile."""

    def __init__(self, logger: logging.Logger, every_s: float = BAD_REQUEST_LOG_EVERY_S) -> None:
        super().__init__(logger, {})
        self.every_s = every_s
        self._last = -float("inf")
        self._dropped = 0

    def exception(self, msg: object, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            self._bad_request(exc_info, args)
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)

    def _bad_request(self, exc: HttpProcessingError, args: tuple[Any, ...]) -> None:
        now = time.monotonic()
        if now - self._last < self.every_s:
            self._dropped += 1
            return
        self._last = now
        more = f" ({self._dropped} more since the last report)" if self._dropped else ""
        self._dropped = 0
        remote = args[0] if args else "?"
        reason = " ".join(str(exc.message or type(exc).__name__).split())[:120]
        self.logger.warning("bad HTTP request from %s: %s: %s%s", remote, type(exc).__name__, reason, more)
