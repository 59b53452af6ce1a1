"""Discord server (guild) stickers from stored results: PNG 320x320, at most 512 KiB, name 2-30, tags 2-200.

Discord does not accept WebP for server stickers; the core converts (StickerFormat.DISCORD_PNG).
"""

from __future__ import annotations

import unicodedata

from bot import messages
from bot.types import RequestKind, StickerFormat, StickerRecord, StickerRequest, StickerServiceAPI

GONE = messages.STICKER_GONE
NAME_MIN, NAME_MAX = 2, 30
TAGS_MIN, TAGS_MAX = 2, 200

# Discord's names for common expression emoji (the `tags` field wants one); others use the Unicode name.
_DISCORD_EMOJI_NAMES = {
    "😂": "joy",
    "🤣": "rofl",
    "😀": "grinning",
    "😄": "smile",
    "😊": "blush",
    "🙂": "slight_smile",
    "😉": "wink",
    "😍": "heart_eyes",
    "🥰": "smiling_face_with_3_hearts",
    "😎": "sunglasses",
    "😭": "sob",
    "😢": "cry",
    "😡": "rage",
    "😠": "angry",
    "😴": "sleeping",
    "🤔": "thinking",
    "😱": "scream",
    "😮": "open_mouth",
    "😳": "flushed",
    "🙄": "rolling_eyes",
    "😏": "smirk",
    "👍": "thumbsup",
    "👎": "thumbsdown",
    "👏": "clap",
    "👋": "wave",
    "🙏": "pray",
    "❤": "heart",
    "🔥": "fire",
    "🎉": "tada",
    "✨": "sparkles",
    "💯": "100",
    "👀": "eyes",
    "🤗": "hugging",
}


class ServerStickerUnavailable(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def sticker_name(record: StickerRecord) -> str:
    name = (" ".join(record.text.split()) or record.style)[:NAME_MAX].strip()  # options never reach records
    if len(name) < NAME_MIN:
        name = f"{record.style} sticker"[:NAME_MAX]
    return name


def sticker_tags(emoji: str) -> str:
    """The Discord name of the sticker's emoji (2-200 characters), e.g. "joy"."""
    base = emoji.replace("\ufe0f", "")
    name = _DISCORD_EMOJI_NAMES.get(base)
    if name is None and base:
        try:
            name = unicodedata.name(base[0]).lower().replace(" ", "_")
        except ValueError:
            name = None
    name = name or "slight_smile"
    return name[:TAGS_MAX] if len(name) >= TAGS_MIN else "slight_smile"


async def server_png(
    service: StickerServiceAPI, record: StickerRecord, index: int, base: StickerRequest
) -> bytes:
    """Candidate `index` of a stored result as the core's PNG; raises ServerStickerUnavailable.

    The result is asked for again with its own text, style, seed and count, which finds it in the
    core's cache (or redraws the same candidate) and returns it in the DISCORD_PNG format.
    """
    if not 0 <= index < max(record.count, len(record.sticker_hashes)):
        raise ServerStickerUnavailable(GONE)
    from_reaction = service.expression_for(record.text) is not None
    request = StickerRequest(
        platform=base.platform,
        user_id=base.user_id,
        conversation_id=base.conversation_id,
        server_id=base.server_id,
        text="" if from_reaction else record.text,
        kind=RequestKind.REACTION if from_reaction else RequestKind.COMMAND,
        emoji=record.text if from_reaction else None,
        style=record.style,
        count=record.count,
        seed=record.seed,
        formats=frozenset({StickerFormat.DISCORD_PNG}),
        routing=base.routing,
    )
    reply = await service.handle(request)
    if reply.error is not None:
        raise ServerStickerUnavailable(reply.error.message)
    server_formats = (StickerFormat.DISCORD_PNG, StickerFormat.DISCORD_APNG)  # APNG: an animated result
    pngs = [f.data for f in reply.stickers if f.format in server_formats]
    if index >= len(pngs):
        raise ServerStickerUnavailable(GONE)
    return pngs[index]
