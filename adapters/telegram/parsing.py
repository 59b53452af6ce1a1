"""Platform update → neutral `StickerRequest` / `Scope` (no decisions about drawing here)."""

from __future__ import annotations

from telegram import Chat, User
from telegram.constants import ChatType

from adapters.telegram.context import PLATFORM
from bot.types import RequestKind, Scope, StickerRequest


def command_argument(text: str | None) -> str:
    """The text after `/command` or `/command@botname` (spacing inside kept)."""
    if not text:
        return ""
    if not text.startswith("/"):
        return text.strip()
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) == 2 else ""


def is_private(chat: Chat) -> bool:
    return chat.type == ChatType.PRIVATE


def scope_for(chat: Chat) -> Scope:
    return Scope(platform=PLATFORM, server=str(chat.id))


def chat_request(
    chat: Chat,
    user: User,
    text: str,
    *,
    kind: RequestKind = RequestKind.COMMAND,
    emoji: str | None = None,
    parent_id: str | None = None,
) -> StickerRequest:
    return StickerRequest(
        platform=PLATFORM,
        user_id=str(user.id),
        conversation_id=str(chat.id),
        server_id=None if is_private(chat) else str(chat.id),
        text=text,
        kind=kind,
        emoji=emoji,
        parent_id=parent_id,
        routing=chat.id,
    )


def inline_request(user: User, text: str, count: int) -> StickerRequest:
    """Inline queries have no chat: the user's private chat is their scope (their default style)."""
    return StickerRequest(
        platform=PLATFORM,
        user_id=str(user.id),
        conversation_id=str(user.id),
        server_id=None,
        text=text,
        kind=RequestKind.INLINE,
        count=count,
    )
