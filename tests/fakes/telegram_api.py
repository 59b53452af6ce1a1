"""A fake Telegram Bot API server (aiohttp on 127.0.0.1) for testing the real python-telegram-bot client.

It answers the methods the bot uses, records every call, validates parameters the way the Bot API
documents them (sticker files, inline results, sticker set names and sizes, reply targets) and can
inject errors (429 with retry_after, 400, 403, slow answers, dropped connections). Tests feed
updates with the `*_update` helpers; the bot picks them up with `getUpdates` long polling, or the
test posts them to the bot's webhook.

    async with FakeBotAPI() as api:
        app = ApplicationBuilder().token(api.token).base_url(api.base_url)...

Every rule that a call breaks is appended to `api.violations` (besides the 400 answer), so a test
can assert that the bot never sent anything Telegram would reject, even where the bot swallowed
the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image

BOT_ID = 777000111
BOT_USERNAME = "sticker_test_bot"
MAX_STICKER_BYTES = 512_000
MAX_VIDEO_STICKER_BYTES = 256 * 1000  # video stickers: WEBM VP9, <= 3 s, <= 30 fps, no audio
MAX_VIDEO_SECONDS = 3.0
MAX_VIDEO_FPS = 30.0
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
MAX_INLINE_RESULTS = 50
MAX_STATIC_SET_SIZE = 120
INLINE_ANSWER_LIMIT_S = 10.0

# Parameters whose form value is JSON (PTB encodes every non-string value as JSON).
_JSON_PARAMS = {
    "reply_parameters",
    "reply_markup",
    "results",
    "stickers",
    "allowed_updates",
    "emoji_list",
    "button",
    "reaction",
    "commands",
}
_INT_PARAMS = {"chat_id", "user_id", "message_id", "offset", "limit", "timeout", "cache_time"}
_CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}
_SET_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*$")
_START_PARAM = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    at: float
    error: str | None = None  # the description when the fake answered with an error


@dataclass
class Fault:
    """An injected failure for the next `times` calls of `method` (optionally only when `when` matches)."""

    method: str
    kind: str  # "retry_after" | "bad_request" | "forbidden" | "slow" | "disconnect"
    times: int = 1
    retry_after: int = 1
    description: str = ""
    delay_s: float = 0.0
    when: Callable[[dict[str, Any]], bool] | None = None


@dataclass
class StickerSetState:
    name: str
    title: str
    owner: int
    stickers: list[dict[str, Any]] = field(default_factory=list)


class FakeBotAPI:
    """The fake server. Start it with `async with FakeBotAPI() as api:` (or `await api.start()`)."""

    def __init__(self, *, token: str = "123456:TEST-token", bot_username: str = BOT_USERNAME) -> None:
        self.token = token
        self.bot_username = bot_username
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.faults: list[Fault] = []
        self.admins: dict[int, set[int]] = defaultdict(set)  # chat id -> admin user ids
        self.started_users: set[int] = set()  # users who opened a private chat with the bot
        self.blocked_chats: set[int] = set()  # chats where the bot gets 403 (blocked / kicked)
        self.files: dict[str, bytes] = {}  # file_id -> sticker bytes
        self.sticker_sets: dict[str, StickerSetState] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.webhook: dict[str, Any] | None = None
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self._file_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._inline_queries: dict[str, float] = {}  # query id -> time it was sent
        self._answered_queries: set[str] = set()
        self._callback_queries: set[str] = set()
        self._new_update = asyncio.Event()
        self._new_call = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ------------------------------------------------------------------ feeding updates
    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **update}
        self._updates.append(update)
        self._new_update.set()
        return update

    def message_update(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        chat_type: str | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """A user's text message (commands included); stored so the bot can reply to it."""
        message = self._new_message(chat_id, _chat(chat_id, chat_type), _user(user_id), text=text)
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        if reply_to is not None:
            message["reply_to_message"] = self.messages[(chat_id, reply_to)]
        if chat_id > 0:
            self.started_users.add(user_id)
        self.push_update({"message": message})
        return message

    def photo_update(
        self, chat_id: int, user_id: int, data: bytes, *, media_group_id: str | None = None, size: int = 512
    ) -> dict[str, Any]:
        """A user's photo (as Telegram sends it: sizes of one file id, the bytes behind getFile)."""
        file_id = f"photo{next(self._file_ids)}"
        self.files[file_id] = data
        photo = [{"file_id": file_id, "file_unique_id": f"u{file_id}", "width": size, "height": size,
                  "file_size": len(data)}]  # fmt: skip
        extra: dict[str, Any] = {"media_group_id": media_group_id} if media_group_id else {}
        message = self._new_message(chat_id, _chat(chat_id, None), _user(user_id), photo=photo, **extra)
        self.push_update({"message": message})
        return message

    def inline_update(self, user_id: int, query: str, *, offset: str = "") -> str:
        query_id = f"iq{next(self._query_ids)}"
        self._inline_queries[query_id] = time.monotonic()
        self.push_update(
            {"inline_query": {"id": query_id, "from": _user(user_id), "query": query, "offset": offset}}
        )
        return query_id

    def callback_update(self, user_id: int, chat_id: int, message_id: int, data: str) -> str:
        query_id = f"cb{next(self._query_ids)}"
        self._callback_queries.add(query_id)
        message = self.messages.get((chat_id, message_id)) or {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": _chat(chat_id, None),
        }
        self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": _user(user_id),
                    "chat_instance": f"ci{chat_id}",
                    "message": message,
                    "data": data,
                }
            }
        )
        return query_id

    def reaction_update(
        self, chat_id: int, user_id: int, message_id: int, new: list[str], old: list[str] | None = None
    ) -> None:
        self.push_update(
            {
                "message_reaction": {
                    "chat": _chat(chat_id, None),
                    "message_id": message_id,
                    "user": _user(user_id),
                    "date": int(time.time()),
                    "old_reaction": [{"type": "emoji", "emoji": e} for e in old or []],
                    "new_reaction": [{"type": "emoji", "emoji": e} for e in new],
                }
            }
        )

    def delete_user_message(self, chat_id: int, message_id: int) -> None:
        """Simulates a user deleting their message (replies to it now fail)."""
        self.messages.pop((chat_id, message_id), None)

    # ------------------------------------------------------------------ faults
    def inject(self, method: str, kind: str, **kwargs: Any) -> Fault:
        fault = Fault(method=method, kind=kind, **kwargs)
        self.faults.append(fault)
        return fault

    # ------------------------------------------------------------------ assertions helpers
    def calls_of(self, method: str, *, ok: bool | None = None) -> list[Call]:
        return [c for c in self.calls if c.method == method and (ok is None or (c.error is None) == ok)]

    async def wait_for(
        self, predicate: Callable[[FakeBotAPI], bool], *, within_s: float = 10.0, what: str = ""
    ) -> None:
        """Waits until `predicate(self)` holds (checked after every call), or fails the test."""
        deadline = time.monotonic() + within_s
        while not predicate(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                methods = [c.method for c in self.calls[-15:]]
                raise AssertionError(f"timed out waiting for {what or predicate}; last calls: {methods}")
            self._new_call.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_call.wait(), min(remaining, 0.2))

    async def wait_calls(
        self, method: str, count: int = 1, *, ok: bool | None = True, within_s: float = 10.0
    ) -> list[Call]:
        await self.wait_for(
            lambda api: len(api.calls_of(method, ok=ok)) >= count,
            within_s=within_s,
            what=f"{count} x {method}",
        )
        return self.calls_of(method, ok=ok)

    # ------------------------------------------------------------------ HTTP
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error_response(ApiError(401, "Unauthorized"))
        method = request.match_info["method"]
        params, files = await _read_params(request)
        call = Call(method=method, params=params, files=files, at=time.monotonic())
        self.calls.append(call)
        try:
            fault = self._take_fault(method, params)
            if fault is not None:
                await self._apply_fault(fault, request)
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                raise ApiError(404, f"Not Found: method {method} is not supported by the fake")
            result = handler(params, files)
            if asyncio.iscoroutine(result):
                result = await result
            return web.json_response({"ok": True, "result": result})
        except ApiError as err:
            call.error = err.description
            return _error_response(err)
        finally:
            self._new_call.set()

    def _take_fault(self, method: str, params: dict[str, Any]) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and fault.times > 0 and (fault.when is None or fault.when(params)):
                fault.times -= 1
                return fault
        return None

    async def _apply_fault(self, fault: Fault, request: web.Request) -> None:
        if fault.kind == "retry_after":
            raise ApiError(429, f"Too Many Requests: retry after {fault.retry_after}", fault.retry_after)
        if fault.kind == "bad_request":
            raise ApiError(400, f"Bad Request: {fault.description or 'injected'}")
        if fault.kind == "forbidden":
            raise ApiError(403, f"Forbidden: {fault.description or 'bot was blocked by the user'}")
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay_s)
            return
        if fault.kind == "disconnect":
            transport = request.transport
            if transport is not None:
                transport.close()
            raise ApiError(500, "connection dropped")
        raise ValueError(f"unknown fault kind {fault.kind}")

    def _violation(self, method: str, message: str, code: int = 400) -> ApiError:
        self.violations.append(f"{method}: {message}")
        return ApiError(code, f"Bad Request: {message}")

    # ------------------------------------------------------------------ state helpers
    def _new_message(
        self, chat_id: int, chat: dict[str, Any], sender: dict[str, Any], **content: Any
    ) -> dict[str, Any]:
        message_id = next(self._message_ids[chat_id])
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": sender,
            **content,
        }
        self.messages[(chat_id, message_id)] = message
        return message

    def _bot_user(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Sticker Bot", "username": self.bot_username}

    def _check_chat(self, method: str, params: dict[str, Any]) -> int:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise self._violation(method, "chat_id is required")
        if chat_id in self.blocked_chats:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _check_reply(self, method: str, chat_id: int, params: dict[str, Any]) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if "reply_to_message_id" in params:
            raise self._violation(method, "use reply_parameters, not reply_to_message_id")
        reply = params.get("reply_parameters")
        if reply is None:
            return extra
        target = self.messages.get((reply.get("chat_id", chat_id), reply.get("message_id")))
        if target is None:
            if reply.get("allow_sending_without_reply"):
                return extra
            raise ApiError(400, "Bad Request: message to be replied not found")
        extra["reply_to_message"] = target
        return extra

    def _check_markup(self, method: str, params: dict[str, Any]) -> None:
        markup = params.get("reply_markup")
        if markup is None:
            return
        rows = markup.get("inline_keyboard")
        if rows is None:
            return
        for row in rows:
            for button in row:
                if not 1 <= len(button.get("text", "")) <= 64:
                    self._violation(method, "button text must be 1-64 characters")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise self._violation(method, "BUTTON_DATA_INVALID")

    def _sticker_from(self, method: str, value: Any, files: dict[str, bytes]) -> tuple[str, bytes]:
        """Resolves a sticker parameter (file_id or attach://name upload) and validates the file."""
        if isinstance(value, str) and value.startswith("attach://"):
            data = files.get(value.removeprefix("attach://"))
            if data is None:
                raise self._violation(method, f"missing upload for {value}")
        elif isinstance(value, str) and value in self.files:
            return value, self.files[value]
        elif isinstance(value, str):
            raise self._violation(method, "wrong remote file identifier specified")
        elif isinstance(value, bytes):
            data = value
        else:
            raise self._violation(method, "sticker is required")
        if data[:4] == EBML_MAGIC:
            self._validate_video_sticker(method, data)
        else:
            self._validate_static_sticker(method, data)
        file_id = f"CAACAgFake{next(self._file_ids):06d}"
        self.files[file_id] = data
        return file_id, data

    def _validate_static_sticker(self, method: str, data: bytes) -> None:
        if len(data) > MAX_STICKER_BYTES:
            raise self._violation(method, f"sticker file is {len(data)} bytes, over {MAX_STICKER_BYTES}")
        try:
            with Image.open(io.BytesIO(data)) as img:
                fmt, (w, h) = img.format, img.size
                img.load()
        except Exception as err:
            raise self._violation(method, f"sticker does not decode: {err}") from err
        if fmt not in {"WEBP", "PNG"}:
            raise self._violation(method, f"sticker must be WEBP or PNG, got {fmt}")
        if max(w, h) != 512 or min(w, h) > 512:
            raise self._violation(method, f"sticker must have one side 512 and the other <= 512, got {w}x{h}")

    def _validate_video_sticker(self, method: str, data: bytes) -> None:
        """Telegram's video-sticker rules: WEBM, VP9, one side 512, <= 3 s, <= 30 fps, no audio, <= 256 KB."""
        if len(data) > MAX_VIDEO_STICKER_BYTES:
            raise self._violation(
                method, f"video sticker is {len(data)} bytes, over {MAX_VIDEO_STICKER_BYTES}"
            )
        try:
            w, h, codec, fps, seconds, audio = _video_facts(data)
        except Exception as err:
            raise self._violation(method, f"video sticker does not decode: {err}") from err
        if codec != "vp9":
            raise self._violation(method, f"video sticker must be VP9, got {codec}")
        if audio:
            raise self._violation(method, "video sticker must have no audio stream")
        if max(w, h) != 512 or min(w, h) > 512:
            raise self._violation(method, f"video sticker must have one side 512, got {w}x{h}")
        if seconds > MAX_VIDEO_SECONDS + 1e-3:
            raise self._violation(method, f"video sticker lasts {seconds:.2f} s, over 3 s")
        if fps > MAX_VIDEO_FPS + 1e-3:
            raise self._violation(method, f"video sticker has {fps:.1f} fps, over 30")

    def _sticker_object(self, file_id: str, data: bytes, emoji: str | None = None) -> dict[str, Any]:
        video = data[:4] == EBML_MAGIC
        if video:
            w, h = _video_facts(data)[:2]
        else:
            with Image.open(io.BytesIO(data)) as img:
                w, h = img.size
        sticker = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "type": "regular",
            "width": w,
            "height": h,
            "is_animated": False,
            "is_video": video,
            "file_size": len(data),
        }
        if emoji:
            sticker["emoji"] = emoji
        return sticker

    def _check_set_name(self, method: str, name: Any) -> str:
        suffix = f"_by_{self.bot_username}"
        if not isinstance(name, str) or not 1 <= len(name) <= 64:
            raise self._violation(method, "sticker set name must be 1-64 characters")
        if not name.lower().endswith(suffix.lower()) or not _SET_NAME.match(name):
            raise self._violation(method, f"invalid sticker set name {name!r}")
        return name

    def _input_sticker(self, method: str, raw: Any, files: dict[str, bytes]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self._violation(method, "sticker must be an InputSticker")
        if raw.get("format") not in ("static", "video"):
            raise self._violation(
                method, f"only static or video stickers are expected, got {raw.get('format')}"
            )
        emoji = raw.get("emoji_list")
        if not isinstance(emoji, list) or not 1 <= len(emoji) <= 20 or not all(emoji):
            raise self._violation(method, "emoji_list must hold 1-20 emoji")
        file_id, data = self._sticker_from(method, raw.get("sticker"), files)
        if (data[:4] == EBML_MAGIC) != (raw.get("format") == "video"):
            raise self._violation(method, f"sticker format {raw.get('format')} does not match the file")
        return self._sticker_object(file_id, data, emoji[0])

    def _check_started(self, method: str, user_id: Any) -> int:
        if not isinstance(user_id, int):
            raise self._violation(method, "user_id is required")
        if user_id not in self.started_users:
            raise ApiError(400, "Bad Request: PEER_ID_INVALID")
        return user_id

    # ------------------------------------------------------------------ methods
    def _m_getMe(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
        }

    def _m_deleteWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        self.webhook = None
        return True

    def _m_setWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        url = params.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise self._violation("setWebhook", "bad webhook url")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.match(secret):
            raise self._violation("setWebhook", "secret_token may hold only A-Z, a-z, 0-9, _ and -")
        self.webhook = params
        return True

    def _m_setMyCommands(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        for command in params.get("commands", []):
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command.get("command", "")):
                raise self._violation("setMyCommands", f"bad command {command}")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise self._violation("setMyCommands", "command description must be 1-256 chars")
        return True

    async def _m_getUpdates(self, params: dict[str, Any], files: dict[str, bytes]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = params.get("offset") or 0
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        while not self._updates:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), remaining)
        limit = params.get("limit") or 100
        return self._updates[:limit]

    def _m_sendMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        chat_id = self._check_chat("sendMessage", params)
        text = params.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= 4096:
            raise self._violation("sendMessage", "message text must be 1-4096 characters")
        extra = self._check_reply("sendMessage", chat_id, params)
        self._check_markup("sendMessage", params)
        return self._new_message(chat_id, _chat(chat_id, None), self._bot_user(), text=text, **extra)

    def _m_editMessageText(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        chat_id = self._check_chat("editMessageText", params)
        message = self.messages.get((chat_id, params.get("message_id")))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        text = params.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= 4096:
            raise self._violation("editMessageText", "message text must be 1-4096 characters")
        if message.get("text") == text:
            raise ApiError(400, "Bad Request: message is not modified")
        message["text"] = text
        return message

    def _m_deleteMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        chat_id = self._check_chat("deleteMessage", params)
        if self.messages.pop((chat_id, params.get("message_id")), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    async def _download(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["path"].rsplit("/", 1)[-1].split(".", 1)[0]
        if request.match_info["token"] != self.token or file_id not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[file_id])

    def _m_getFile(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        file_id = params.get("file_id")
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        size = len(self.files[file_id])
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": size,
                "file_path": f"photos/{file_id}.jpg"}  # fmt: skip

    def _m_sendPhoto(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        chat_id = self._check_chat("sendPhoto", params)
        data = files.get("photo") or b""
        if not data:
            raise self._violation("sendPhoto", "photo must be an uploaded file")
        file_id = f"photo{next(self._file_ids)}"
        self.files[file_id] = data
        photo = [{"file_id": file_id, "file_unique_id": f"u{file_id}", "width": 1, "height": 1}]
        caption = params.get("caption")
        extra = {"caption": caption} if isinstance(caption, str) else {}
        return self._new_message(chat_id, _chat(chat_id, None), self._bot_user(), photo=photo, **extra)

    def _m_sendChatAction(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        self._check_chat("sendChatAction", params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise self._violation("sendChatAction", f"unknown action {params.get('action')}")
        return True

    def _m_sendSticker(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        chat_id = self._check_chat("sendSticker", params)
        extra = self._check_reply("sendSticker", chat_id, params)
        self._check_markup("sendSticker", params)
        file_id, data = self._sticker_from("sendSticker", params.get("sticker", files.get("sticker")), files)
        sticker = self._sticker_object(file_id, data, params.get("emoji"))
        return self._new_message(chat_id, _chat(chat_id, None), self._bot_user(), sticker=sticker, **extra)

    def _m_answerInlineQuery(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        method = "answerInlineQuery"
        query_id = params.get("inline_query_id")
        sent_at = self._inline_queries.get(query_id)
        if sent_at is None:
            raise self._violation(method, "QUERY_ID_INVALID")
        if query_id in self._answered_queries:
            raise self._violation(method, "QUERY_ID_INVALID (answered twice)")
        if time.monotonic() - sent_at > INLINE_ANSWER_LIMIT_S:
            raise self._violation(
                method, "query is too old and response timeout expired or query ID is invalid"
            )
        results = params.get("results")
        if not isinstance(results, list) or len(results) > MAX_INLINE_RESULTS:
            raise self._violation(method, f"at most {MAX_INLINE_RESULTS} results")
        ids = [r.get("id", "") for r in results]
        if len(set(ids)) != len(ids):
            raise self._violation(method, "RESULT_ID_DUPLICATE")
        for result in results:
            if not 1 <= len(str(result.get("id", "")).encode()) <= 64:
                raise self._violation(method, "RESULT_ID_INVALID")
            if result.get("type") == "sticker":
                if result.get("sticker_file_id") not in self.files:
                    raise self._violation(method, "wrong file identifier in a sticker result")
            elif result.get("type") != "article":
                raise self._violation(method, f"unexpected result type {result.get('type')}")
        button = params.get("button")
        if button is not None:
            if not button.get("text"):
                raise self._violation(method, "button text is required")
            start = button.get("start_parameter")
            if start is not None and not _START_PARAM.match(start):
                raise self._violation(method, "start_parameter must be 1-64 of A-Z, a-z, 0-9, _ and -")
        self._answered_queries.add(query_id)
        return True

    def _m_answerCallbackQuery(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        query_id = params.get("callback_query_id")
        if query_id not in self._callback_queries:
            raise self._violation("answerCallbackQuery", "QUERY_ID_INVALID")
        self._callback_queries.discard(query_id)
        text = params.get("text")
        if text is not None and len(text) > 200:
            raise self._violation("answerCallbackQuery", "text must be 0-200 characters")
        return True

    def _m_getChatMember(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        chat_id = self._check_chat("getChatMember", params)
        user_id = params.get("user_id")
        if not isinstance(user_id, int):
            raise self._violation("getChatMember", "user_id is required")
        if chat_id > 0:
            status = "member"
        elif user_id in self.admins.get(chat_id, set()):
            status = "administrator"
        else:
            status = "member"
        member: dict[str, Any] = {"status": status, "user": _user(user_id)}
        if status == "administrator":
            member.update(
                {
                    "can_be_edited": False,
                    "is_anonymous": False,
                    "can_manage_chat": True,
                    "can_delete_messages": True,
                    "can_manage_video_chats": True,
                    "can_restrict_members": True,
                    "can_promote_members": False,
                    "can_change_info": True,
                    "can_invite_users": True,
                    "can_post_stories": False,
                    "can_edit_stories": False,
                    "can_delete_stories": False,
                }
            )
        return member

    def _m_uploadStickerFile(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        self._check_started("uploadStickerFile", params.get("user_id"))
        if params.get("sticker_format") not in ("static", "video"):
            raise self._violation("uploadStickerFile", "sticker_format must be static or video")
        file_id, data = self._sticker_from(
            "uploadStickerFile", params.get("sticker", files.get("sticker")), files
        )
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data)}

    def _m_createNewStickerSet(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        method = "createNewStickerSet"
        user_id = self._check_started(method, params.get("user_id"))
        name = self._check_set_name(method, params.get("name"))
        title = params.get("title")
        if not isinstance(title, str) or not 1 <= len(title) <= 64:
            raise self._violation(method, "title must be 1-64 characters")
        stickers = params.get("stickers")
        if not isinstance(stickers, list) or not 1 <= len(stickers) <= 50:
            raise self._violation(method, "1-50 initial stickers")
        if params.get("sticker_type", "regular") != "regular":
            raise self._violation(method, "sticker_type must be regular")
        if name.lower() in self.sticker_sets:
            raise ApiError(400, "Bad Request: sticker set name is already occupied")
        objects = [self._input_sticker(method, s, files) for s in stickers]
        self.sticker_sets[name.lower()] = StickerSetState(name, title, user_id, objects)
        return True

    def _m_addStickerToSet(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        method = "addStickerToSet"
        user_id = self._check_started(method, params.get("user_id"))
        name = self._check_set_name(method, params.get("name"))
        state = self.sticker_sets.get(name.lower())
        if state is None or state.owner != user_id:
            raise ApiError(400, "Bad Request: STICKERSET_INVALID")
        if len(state.stickers) >= MAX_STATIC_SET_SIZE:
            raise ApiError(400, "Bad Request: STICKERS_TOO_MUCH")
        state.stickers.append(self._input_sticker(method, params.get("sticker"), files))
        return True

    def _m_getStickerSet(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        state = self.sticker_sets.get(str(params.get("name", "")).lower())
        if state is None:
            raise ApiError(400, "Bad Request: STICKERSET_INVALID")
        return {
            "name": state.name,
            "title": state.title,
            "sticker_type": "regular",
            "stickers": state.stickers,
        }

    def _m_setMessageReaction(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        chat_id = self._check_chat("setMessageReaction", params)
        if (chat_id, params.get("message_id")) not in self.messages:
            raise ApiError(400, "Bad Request: message to react not found")
        return True


# ---------------------------------------------------------------------- helpers
def _video_facts(data: bytes) -> tuple[int, int, str, float, float, bool]:
    """(width, height, codec, fps, seconds, has audio) of a WEBM, read with PyAV's demuxer."""
    import av  # the `animate` extra; only video stickers need it

    with av.open(io.BytesIO(data), format="webm") as container:
        video = container.streams.video[0]
        rate = float(video.average_rate or video.guessed_rate or 0)
        seconds = float(container.duration / av.time_base) if container.duration else 0.0
        return (
            video.codec_context.width,
            video.codec_context.height,
            video.codec_context.name,
            rate,
            seconds,
            len(container.streams.audio) > 0,
        )


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "language_code": "en"}


def _chat(chat_id: int, chat_type: str | None) -> dict[str, Any]:
    if chat_type is None:
        chat_type = "private" if chat_id > 0 else "supergroup"
    chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
    if chat_type == "private":
        chat["first_name"] = f"User{chat_id}"
    else:
        chat["title"] = f"Group {chat_id}"
    return chat


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    params: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            name = part.name or ""
            if getattr(part, "filename", None):
                files[name] = bytes(await part.read())  # type: ignore[union-attr]
            else:
                params[name] = await part.text()  # type: ignore[union-attr]
    elif request.can_read_body:
        if request.content_type == "application/json":
            params = await request.json()
        else:
            params = dict(await request.post())  # type: ignore[arg-type]
    else:
        params = dict(request.query)
    return {k: _decode(k, v) for k, v in params.items()}, files


def _decode(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if name in _JSON_PARAMS or (name == "sticker" and value.startswith("{")):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if name in _INT_PARAMS:
        with contextlib.suppress(ValueError):
            return int(value)
    if value in {"true", "false"}:
        return value == "true"
    return value


def _error_response(err: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": err.code, "description": err.description}
    if err.retry_after is not None:
        body["parameters"] = {"retry_after": err.retry_after}
    return web.json_response(body, status=err.code)
