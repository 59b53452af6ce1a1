"""Teaching from the web room: photos uploaded by HTTP POST `/teach`, `/teach` and `/forget` in chat,
and progress frames (`teach`) to the teacher's own connections in that room.

The upload names the same secret session as the WebSocket hello (header `X-Stickerbot-Session`),
so the user id is the one the room shows and the client can't pick someone else's. Parts are read
as a stream with a cap per file and in all, before anything is decoded (bot.teaching checks the rest).
"""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from adapters.web.protocol import SESSION_RE, clean_room
from bot.teaching import Photo, Teacher, TeachError, TeachProgress

if TYPE_CHECKING:
    from adapters.web.chat import ChatRoom
    from adapters.web.rooms import Client
    from bot.teaching import TeachService

log = logging.getLogger("stickerbot.web")

PLATFORM = "web"
SESSION_HEADER = "X-Stickerbot-Session"
TURNED_OFF = "Teaching your own subject is turned off here."
MAX_FIELD_BYTES = 1024


class WebTeach:
    def __init__(self, chat: ChatRoom) -> None:
        self.chat = chat

    @property
    def teaching(self) -> TeachService | None:
        return getattr(self.chat.service, "teaching", None)

    # ------------------------------------------------------------------ chat commands
    async def command(self, client: Client, command: str, rest: str) -> None:
        teaching = self.teaching
        if teaching is None:
            client.send("notice", level="error", text=TURNED_OFF)
            return
        who = Teacher(PLATFORM, client.room, client.user_id, client.is_admin)
        try:
            if command == "/teach":
                from bot.teaching.names import clean_name

                name = clean_name(rest)
                cfg = teaching.config
                client.send("teach_open", name=name, min=cfg.min_photos, max=cfg.max_photos)
                client.send(
                    "notice",
                    level="info",
                    text=f"Pick {cfg.min_photos}–{cfg.max_photos} clear photos of your {name} in the Teach "
                    "dialog: one subject, different angles.",
                )
            elif command == "/teach-settings":  # the room's admin token decides (client.is_admin)
                client.send(
                    "notice", level="info", text=await teaching.change_server_settings_from(who, rest)
                )
            elif rest.strip().lower() == "all":
                client.send("notice", level="info", text=await teaching.forget_all(who))
            else:
                client.send("notice", level="info", text=await teaching.forget(who, rest))
        except TeachError as exc:
            client.send("notice", level="error", text=exc.message)

    # ------------------------------------------------------------------ the upload
    async def upload(self, request: web.Request) -> web.Response:
        teaching = self.teaching
        if teaching is None:
            return _answer(404, TURNED_OFF)
        from adapters.web.chat import _same_origin

        if not _same_origin(request):
            return _answer(403, "Uploads must come from the chat page.")
        session = request.headers.get(SESSION_HEADER, "")
        if not SESSION_RE.fullmatch(session):
            return _answer(401, "Join the room first.")
        cfg = teaching.config
        per_file = int(cfg.max_photo_mb * 1024 * 1024)
        budget = cfg.max_photos * per_file + 64 * 1024
        if request.content_length is not None and request.content_length > budget:
            return _answer(
                413, f"That upload is too large (at most {cfg.max_photos} photos of {cfg.max_photo_mb:g} MB)."
            )
        try:
            fields, photos, count = await _read_parts(request, cfg.max_photos, per_file, budget)
        except ValueError as exc:
            return _answer(400 if "form" in str(exc) else 413, str(exc))
        if not self.chat._token_ok(fields.get("token") or None):
            return _answer(401, "This room needs a valid access token.")
        room = clean_room(fields.get("room", ""))
        if room is None:
            return _answer(400, "Unknown room.")
        if count > cfg.max_photos:
            return _answer(400, f"That's {count} photos; send at most {cfg.max_photos}.")
        from adapters.web.chat import user_id_for

        who = Teacher(PLATFORM, room, user_id_for(session), self.chat._is_admin(fields.get("token") or None))
        try:
            accepted = await teaching.teach(
                who, fields.get("name", ""), photos, self._listener(room, who.user_id)
            )
        except TeachError as exc:
            return _answer(400, exc.message)
        self._send(room, who.user_id, _progress_frame(accepted))
        return web.json_response({"ok": True, "job": accepted.job_id, "message": accepted.message})

    def _listener(self, room: str, user_id: str) -> Any:
        def listen(event: TeachProgress) -> None:
            self._send(room, user_id, _progress_frame(event))

        return listen

    def _send(self, room: str, user_id: str, fields: dict[str, Any]) -> None:
        live = self.chat.rooms.peek(room)
        for client in list(live.clients) if live is not None else []:
            if client.user_id == user_id:
                client.send("teach", **fields)


def _progress_frame(event: TeachProgress) -> dict[str, Any]:
    preview = "data:image/png;base64," + base64.b64encode(event.preview).decode() if event.preview else None
    return {
        "job": event.job_id,
        "name": event.name,
        "status": event.status,
        "step": event.step,
        "steps": event.steps,
        "percent": event.percent,
        "message": event.message,
        "preview": preview,
    }


async def _read_parts(
    request: web.Request, max_photos: int, per_file: int, budget: int
) -> tuple[dict[str, str], list[Photo], int]:
    """Form fields and photos; photos past `max_photos` are counted, not kept. ValueError when too large."""
    if request.content_type == "application/x-www-form-urlencoded":  # a form without files
        posted = await request.post()
        return {k: str(posted[k])[:MAX_FIELD_BYTES] for k in ("room", "name", "token") if k in posted}, [], 0
    if not request.content_type.startswith("multipart/"):
        raise ValueError("Send the photos as a multipart form.")
    reader = await request.multipart()
    fields: dict[str, str] = {}
    photos: list[Photo] = []
    count = 0
    total = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ValueError("Send the photos as a flat multipart form.")
        if part.name == "photo":
            count += 1
            data = await _read_capped(part, per_file + 1)
            total += len(data)
            if total > budget:
                raise ValueError("That upload is too large.")
            if count <= max_photos:
                photos.append(
                    Photo(part.filename or f"photo {count}", data)
                )  # oversize: refused with a reason
        elif part.name in ("room", "name", "token") and len(fields) < 8:
            fields[part.name] = (await _read_capped(part, MAX_FIELD_BYTES)).decode("utf-8", "replace")
        else:
            await part.release()
    return fields, photos, count


async def _read_capped(part: BodyPartReader, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(64 * 1024):
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
    return b"".join(chunks)[:limit]


def _answer(status: int, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)
