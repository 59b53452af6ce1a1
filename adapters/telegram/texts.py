"""Every sentence the Telegram adapter shows a user, in one place (short, friendly, no internals)."""

from __future__ import annotations

from bot import messages

USAGE = "Tell me what to draw, e.g. <code>/sticker eating otter</code>."
FAILED = messages.FAILED
UNEXPECTED = messages.UNEXPECTED
BUTTON_REROLL = messages.BUTTON_REROLL
BUTTON_MORE = messages.BUTTON_MORE
BUTTON_ADD = "➕ Add to my pack"
BUTTON_ANIMATE = messages.BUTTON_ANIMATE
INLINE_CONTINUE = "Not ready yet: continue in private chat"
INLINE_EMPTY = "Type what the sticker should show"
INLINE_UNAVAILABLE = "Make this sticker in private chat"
CALLBACK_WORKING = "On it…"
CALLBACK_EXPIRED = messages.STICKER_GONE
CALLBACK_UNKNOWN = "This button no longer works."
PACK_ADDED = "Added to your pack ✅"
PACK_LINK = "➕ Added to your sticker pack: https://t.me/addstickers/{name}"
PACK_FULL = "Your sticker pack is full (120 stickers). Remove some in @Stickers, then try again."
PACK_START_FIRST = "Please open a private chat with me and press Start first, then tap ➕ again."
PACK_NAME_TAKEN = "I couldn't find a free name for your pack. Please try again later."
PACK_FAILED = "Telegram didn't accept that sticker for your pack. Please try again later."
STYLE_LIST_HEADER = "Styles (current: <b>{current}</b>):"
STYLE_LIST_FOOTER = "Change it with <code>/style NAME</code>."
START = (
    "Hi! I draw stickers on demand.\n"
    "• <code>/sticker eating otter</code>, or just send me a text here\n"
    "• type <code>@{bot} eating otter</code> in any chat to pick from 4 stickers\n"
    "• /style to choose a look, /help for everything else"
)


def _code(text: str) -> str:
    return f"<code>{text}</code>"


HELP = (
    "<b>Stickers on demand</b>\n"
    f"/sticker <i>what</i> — draw a sticker (reply with it). {messages.options_hint(_code)}\n"
    "<code>@{bot} what</code> — inline mode: pick one of 4 stickers in any chat.\n"
    "/style — list styles; <code>/style NAME</code> sets this chat's style (group admins only).\n"
    f"Under each sticker: {BUTTON_REROLL}, {BUTTON_MORE}, {BUTTON_ADD} (your own sticker set).\n"
    "React to a message with an emoji like 😂 and I answer with a matching sticker. "
    "In groups this needs me to be an administrator (Telegram only tells admins about reactions)."
)
