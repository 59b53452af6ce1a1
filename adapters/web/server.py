"""The chat room's HTTP side: the page, its static files, sticker files by hash, and `/ws`.

Every response carries a strict Content-Security-Policy (scripts and styles only from this
origin, no inline code), so even a rendering mistake in the page could not run injected
script. Sticker files are looked up by a validated SHA-256 only; no user text ever reaches
a filesystem path. Requests for a Host other than `web.allowed_hosts` are refused (DNS rebinding).

`start_runner` serves the app with the socket-level guards: a header-read/idle timeout, a cap
on open sockets, and one rate-limited log line for malformed HTTP instead of a traceback.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from adapters.web.guards import QuietErrors, cap_sockets
from adapters.web.protocol import MAX_ROOM_CHARS, clean_room
from bot.config import WebConfig

if TYPE_CHECKING:
    from adapters.web.chat import ChatRoom

STATIC_DIR = Path(__file__).with_name("static")
STATIC_FILES = {
    "app.js": "text/javascript",
    "style.css": "text/css",
    "favicon.svg": "image/svg+xml",
}
STICKER_NAME_RE = re.compile(r"^([0-9a-f]{64})\.webp$")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    if not response.prepared:
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
    if isinstance(response, web.HTTPException):
        raise response
    return response


def build_app(chat: ChatRoom) -> web.Application:
    """The aiohttp application: page routes, static files, `/stickers/<sha256>.webp`, `/ws`."""

    @web.middleware
    async def allowed_host(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not chat.identity.host_allowed(request):
            raise web.HTTPMisdirectedRequest(text="This server does not serve that host name.")
        return await handler(request)

    app = web.Application(middlewares=[security_headers, allowed_host], client_max_size=64 * 1024)
    index_html = (STATIC_DIR / "index.html").read_bytes()
    static = {name: (STATIC_DIR / name).read_bytes() for name in STATIC_FILES}

    async def page(request: web.Request) -> web.Response:
        room = request.match_info.get("room")
        if room is not None and clean_room(room) != room:
            raise web.HTTPNotFound(
                text=f"No such room name (use a-z, 0-9, - and _, up to {MAX_ROOM_CHARS} characters)."
            )
        return web.Response(
            body=index_html, content_type="text/html", charset="utf-8", headers={"Cache-Control": "no-cache"}
        )

    async def static_file(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in static:
            raise web.HTTPNotFound()
        return web.Response(
            body=static[name], content_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"}
        )

    async def sticker(request: web.Request) -> web.Response:
        match = STICKER_NAME_RE.fullmatch(request.match_info["name"])
        if match is None:
            raise web.HTTPNotFound()
        sha256 = match.group(1)
        if request.headers.get("If-None-Match") == f'"{sha256}"':
            return web.Response(status=304, headers={"ETag": f'"{sha256}"'})
        data = await chat.sticker_bytes(sha256)
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(
            body=data,
            content_type="image/webp",
            headers={
                "Cache-Control": "public, max-age=31536000, immutable",
                "ETag": f'"{sha256}"',
                "Content-Disposition": f'inline; filename="sticker-{sha256[:12]}.webp"',
            },
        )

    app.router.add_get("/", page)
    app.router.add_get("/r/{room}", page)
    app.router.add_get("/static/{name}", static_file)
    app.router.add_get("/stickers/{name}", sticker)
    app.router.add_get("/ws", chat.websocket)
    app.router.add_post("/teach", chat.teach.upload)  # photos of a subject to teach (adapters.web.teach)
    return app


async def start_runner(app: web.Application, config: WebConfig) -> web.AppRunner:
    """Set up `app` with the socket guards (the caller adds the site)."""
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        keepalive_timeout=config.header_timeout_s,  # also bounds a request whose headers never finish
        logger=QuietErrors(logging.getLogger("aiohttp.server")),
    )
    await runner.setup()
    assert runner.server is not None
    cap_sockets(runner.server, config.max_connections)
    return runner
