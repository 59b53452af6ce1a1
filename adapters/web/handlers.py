"""What each client frame does once a connection has joined: chat lines, slash commands,
sticker requests, rerolls, picks, reactions, style changes and re-sends.

Content problems (too long, unknown command, expired choice) are answered with a notice to the
sender; only frames that break the protocol raise `ProtocolError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapters.web.history import ChatMessage, History
from adapters.web.jobs import PLATFORM, StickerJobs
from adapters.web.posting import Poster
from adapters.web.protocol import (
    Animate,
    AskSticker,
    Chat,
    ClientFrame,
    Hello,
    Pick,
    ProtocolError,
    React,
    Reroll,
    Resend,
    SetStyle,
    clean_text,
    is_record_id,
    is_sha256,
)
from adapters.web.rooms import Client, Rooms
from bot import messages
from bot.motion import split_motion
from bot.types import RequestKind, Scope, ServiceError, StickerServiceAPI

if TYPE_CHECKING:
    from adapters.web.teach import WebTeach

HELP_TEXT = (
    f"/sticker <what> — make a sticker, e.g. /sticker eating otter. {messages.options_hint()} · "
    "/style [NAME] — show or set the room's style · "
    "/teach NAME — teach me your own subject from photos (then “my NAME” in prompts) · "
    "/forget NAME or /forget all · "
    f"click a sticker for {messages.BUTTON_REROLL}, {messages.BUTTON_MORE} and download · "
    "hover a message and press ☺ to react with a sticker."
)


def room_scope(room: str) -> Scope:
    return Scope(platform=PLATFORM, server=room)


class FrameHandlers:
    def __init__(
        self,
        service: StickerServiceAPI,
        history: History,
        rooms: Rooms,
        poster: Poster,
        jobs: StickerJobs,
        *,
        max_chars: int,
    ) -> None:
        self.service = service
        self.history = history
        self.rooms = rooms
        self.poster = poster
        self.jobs = jobs
        self.max_chars = max_chars
        self.teach: WebTeach | None = None  # /teach and /forget (set by the chat room)

    async def dispatch(self, client: Client, frame: ClientFrame) -> None:
        match frame:
            case Chat():
                await self.on_chat(client, frame.text)
            case AskSticker():
                self.on_sticker(client, frame.prompt, frame.style)
            case Reroll():
                await self.on_reroll(client, frame.record_id, more=frame.type == "more")
            case Pick():
                await self.on_pick(client, frame.record_id, frame.sha256)
            case React():
                await self.on_react(client, frame.message_id, frame.emoji)
            case SetStyle():
                await self.on_set_style(client, frame.style)
            case Resend():
                await self.on_resend(client, frame.sha256)
            case Animate():
                await self.on_animate(client, frame.record_id, frame.sha256)
            case Hello():
                raise ProtocolError("already joined")

    async def on_chat(self, client: Client, raw: str) -> None:
        text = clean_text(raw)
        if not text:
            return
        if len(text) > self.max_chars:
            client.send("notice", level="error", text=f"Messages can be up to {self.max_chars} characters.")
            return
        if text.startswith("/"):
            await self.on_command(client, text)
            return
        await self.poster.post(client.room, "chat", client.user_id, client.name, text)

    async def on_command(self, client: Client, text: str) -> None:
        command, _, rest = text.partition(" ")
        match command.lower():
            case "/sticker" | "/s":
                self.on_sticker(client, rest, None)
            case "/style":
                if rest.strip():
                    await self.on_set_style(client, rest.strip())
                else:
                    await self.show_styles(client)
            case "/teach" | "/forget" | "/teach-settings" if self.teach is not None:
                await self.teach.command(client, command.lower(), rest)
            case "/help":
                client.send("notice", level="info", text=HELP_TEXT)
            case _:
                client.send("notice", level="error", text=f"Unknown command {command[:40]}. Try /help.")

    def on_sticker(self, client: Client, prompt: str, style: str | None) -> None:
        text = clean_text(prompt)
        request = self.jobs.request(client, RequestKind.COMMAND, text=text, style=style)
        self.jobs.start(client, request, label=text)

    async def on_reroll(self, client: Client, record_id: str, *, more: bool) -> None:
        original = await self.posted_record(client, record_id)
        if original is None:
            return
        kind = RequestKind.VARIATIONS if more else RequestKind.REROLL
        request = self.jobs.request(client, kind, text=original.text, parent_id=record_id)
        action = messages.BUTTON_MORE if more else messages.BUTTON_REROLL
        label = f"{action}: {original.text}".strip(": ")
        self.jobs.start(client, request, label=label, private=more)

    async def on_animate(self, client: Client, record_id: str, sha256: str) -> None:
        """🎬 Animate: the posted sticker (its seed names the candidate) as an animated WebP."""
        if await self.posted_record(client, record_id) is None:
            return
        record = await self.service.record(record_id)
        seed = None  # a record that is gone gets the core's own answer
        if record is not None:
            hashes = record.sticker_hashes
            seed = record.seed + (hashes.index(sha256) if sha256 in hashes else 0)
        request = self.jobs.request(client, RequestKind.ANIMATE, text="", parent_id=record_id, seed=seed)
        what = split_motion(record.text)[0] if record is not None else ""
        self.jobs.start(client, request, label=f"{messages.BUTTON_ANIMATE}: {what}".strip(": "))

    async def on_pick(self, client: Client, record_id: str, sha256: str) -> None:
        if sha256 not in client.offered.get(record_id, frozenset()):
            client.send("notice", level="error", text="That choice has expired. Ask for 4 more again.")
            return
        record = await self.service.record(record_id)
        text = record.text if record is not None else ""
        meta: dict[str, Any] = {}
        if record is not None:
            meta = {"style": record.style, "emoji": record.emoji}
        await self.jobs.post_sticker(client, sha256, text=text, record_id=record_id, meta=meta)

    async def on_react(self, client: Client, message_id: int, emoji: str) -> None:
        emoji = emoji.strip()
        if not emoji or len(emoji) > 16 or self.service.expression_for(emoji) is None:
            return  # not in the reaction table: ignored quietly, as on the other platforms
        target = await self.history.get(client.room, message_id)
        if target is None:
            client.send("notice", level="error", text="That message is no longer here.")
            return
        reply_to = {"id": target.id, "emoji": emoji, "name": target.user_name}
        request = self.jobs.request(client, RequestKind.REACTION, text="", emoji=emoji)
        self.jobs.start(client, request, label=emoji, reply_to=reply_to)

    async def on_set_style(self, client: Client, style: str) -> None:
        style = clean_text(style)[:64]
        scope = room_scope(client.room)
        try:
            confirmation = await self.service.set_default_style(scope, style, is_admin=client.is_admin)
        except ServiceError as exc:
            client.send("notice", level="error", text=exc.error.message)
            return
        new_style = await self.service.default_style(scope)
        self.rooms.get(client.room).broadcast(
            "style", style=new_style, by={"id": client.user_id, "name": client.name}
        )
        await self.poster.post(
            client.room, "system", client.user_id, client.name, confirmation, meta={"style": new_style}
        )

    async def show_styles(self, client: Client) -> None:
        current = await self.service.default_style(room_scope(client.room))
        names = ", ".join(s.name for s in self.service.styles())
        client.send("notice", level="info", text=f"Room style: {current}. Styles: {names}.")

    async def on_resend(self, client: Client, sha256: str) -> None:
        if not is_sha256(sha256):
            raise ProtocolError("resend.sha256 must be a lowercase hex SHA-256")
        original = await self.history.sticker_message(client.room, sha256)
        if original is None:
            client.send("notice", level="error", text="Only stickers from this room can be re-sent.")
            return
        meta = {k: v for k, v in original.meta.items() if k in ("style", "emoji", "seed")}
        await self.jobs.post_sticker(
            client, sha256, text=original.text, record_id=original.record_id, meta=meta
        )

    async def posted_record(self, client: Client, record_id: str) -> ChatMessage | None:
        """The room's latest message carrying `record_id` (only stickers posted here can be rerolled)."""
        if not is_record_id(record_id):
            raise ProtocolError("record_id has an invalid format")
        original = await self.history.record_message(client.room, record_id)
        if original is None:
            client.send("notice", level="error", text="That sticker isn't in this room.")
        return original
