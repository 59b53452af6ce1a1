"""Emoji ↔ expression: reactions become expressions, and every sticker gets a fitting emoji.

Emoji arrive in many spellings: with or without variation selectors (U+FE0F/U+FE0E), with
skin-tone modifiers (U+1F3FB–U+1F3FF) and as gendered ZWJ sequences (🤦‍♀️). `normalise_emoji`
reduces them to one base form before the table lookup.
"""

from __future__ import annotations

import re

_VARIATION_SELECTORS = re.compile("[\ufe0e\ufe0f]")
_SKIN_TONES = re.compile("[\U0001f3fb-\U0001f3ff]")
_GENDER_SUFFIX = re.compile("\u200d[\u2640\u2642]$")

# emoji → expression (the words filled into a style's template)
_TABLE: dict[str, str] = {
    "😂": "laughing",
    "🤣": "rolling on the floor laughing",
    "😆": "laughing with eyes closed",
    "😄": "grinning happily",
    "😀": "grinning",
    "😊": "smiling warmly",
    "🙂": "smiling",
    "😉": "winking",
    "😍": "heart eyes, in love",
    "🥰": "loving, surrounded by hearts",
    "😘": "blowing a kiss",
    "😎": "cool with sunglasses",
    "🤩": "star-struck",
    "😭": "crying loudly",
    "😢": "sad with a tear",
    "🥺": "pleading with puppy eyes",
    "😡": "angry",
    "😠": "annoyed",
    "🤬": "furious, swearing",
    "😤": "huffing, determined",
    "😴": "sleeping",
    "🥱": "yawning",
    "🤔": "thinking",
    "🧐": "inspecting with a monocle",
    "😱": "shocked, screaming",
    "😮": "surprised",
    "😳": "flustered, blushing",
    "🤯": "mind blown",
    "😬": "grimacing awkwardly",
    "🙄": "rolling eyes",
    "😏": "smirking",
    "🤪": "zany, silly face",
    "😜": "winking with tongue out",
    "😋": "yummy, licking lips",
    "🤤": "drooling",
    "🤢": "nauseated",
    "🤒": "sick with a thermometer",
    "🥶": "freezing cold",
    "🥵": "overheated, sweating",
    "😇": "angelic with a halo",
    "😈": "mischievous devil grin",
    "🤗": "hugging",
    "🤫": "shushing",
    "🤭": "giggling behind a paw",
    "🫡": "saluting",
    "🤦": "facepalm",
    "🤷": "shrugging",
    "🙈": "covering eyes, embarrassed",
    "❤": "I love you",
    "💔": "heartbroken",
    "🔥": "on fire, hyped",
    "✨": "sparkling",
    "💯": "one hundred percent",
    "👍": "thumbs up",
    "👎": "thumbs down",
    "👏": "clapping",
    "🙌": "raising hands in celebration",
    "👋": "waving hello",
    "🙏": "thank you, hands together",
    "💪": "flexing muscles",
    "🤝": "handshake",
    "✌": "peace sign",
    "👀": "eyes wide, looking",
    "🎉": "celebrating with confetti",
    "🥳": "party hat, celebrating",
    "🎂": "birthday cake",
    "☕": "drinking coffee",
    "🍕": "eating pizza",
    "💤": "sleeping",
    "💩": "poop joke",
    "🤡": "clown",
    "👻": "ghost costume",
    "💀": "dead from laughing",
    "😵": "dizzy",
    "🫠": "melting",
    "😅": "nervous laughing, sweat drop",
}

# expression keywords → the emoji that best fits them (first match wins)
_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("love", "❤️"),
    ("heart", "😍"),
    ("kiss", "😘"),
    ("hug", "🤗"),
    ("laugh", "😂"),
    ("lol", "😂"),
    ("giggl", "🤭"),
    ("grin", "😀"),
    ("smil", "😊"),
    ("happy", "😄"),
    ("wink", "😉"),
    ("cool", "😎"),
    ("sunglass", "😎"),
    ("cry", "😭"),
    ("tear", "😢"),
    ("sad", "😢"),
    ("heartbroken", "💔"),
    ("pleading", "🥺"),
    ("furious", "🤬"),
    ("angry", "😡"),
    ("mad", "😡"),
    ("annoy", "😠"),
    ("grump", "😠"),
    ("sleep", "😴"),
    ("tired", "🥱"),
    ("yawn", "🥱"),
    ("think", "🤔"),
    ("shock", "😱"),
    ("scream", "😱"),
    ("scared", "😱"),
    ("surpris", "😮"),
    ("blush", "😳"),
    ("embarrass", "🙈"),
    ("mind blown", "🤯"),
    ("confus", "😵"),
    ("dizzy", "😵"),
    ("thumbs down", "👎"),
    ("thumbs up", "👍"),
    ("clap", "👏"),
    ("wav", "👋"),
    ("hello", "👋"),
    ("bye", "👋"),
    ("thank", "🙏"),
    ("pray", "🙏"),
    ("please", "🙏"),
    ("flex", "💪"),
    ("strong", "💪"),
    ("celebrat", "🎉"),
    ("party", "🥳"),
    ("birthday", "🎂"),
    ("congrat", "🎉"),
    ("coffee", "☕"),
    ("pizza", "🍕"),
    ("eat", "😋"),
    ("yum", "😋"),
    ("hungry", "😋"),
    ("drool", "🤤"),
    ("sick", "🤒"),
    ("cold", "🥶"),
    ("hot", "🥵"),
    ("fire", "🔥"),
    ("angel", "😇"),
    ("devil", "😈"),
    ("evil", "😈"),
    ("shrug", "🤷"),
    ("facepalm", "🤦"),
    ("salut", "🫡"),
    ("shh", "🤫"),
    ("melt", "🫠"),
    ("smirk", "😏"),
    ("silly", "🤪"),
    ("clown", "🤡"),
    ("ghost", "👻"),
    ("dead", "💀"),
    ("nervous", "😅"),
    ("look", "👀"),
    ("peace", "✌️"),
    ("dance", "💃"),
    ("music", "🎵"),
    ("sing", "🎤"),
    ("work", "💻"),
    ("cod", "💻"),
    ("read", "📚"),
    ("rain", "🌧️"),
    ("star", "🤩"),
)

DEFAULT_EMOJI = "🙂"


def normalise_emoji(emoji: str) -> str:
    """One base spelling: no variation selectors, skin tones, or gender suffixes; no spaces."""
    e = _VARIATION_SELECTORS.sub("", emoji.strip())
    e = _SKIN_TONES.sub("", e)
    return _GENDER_SUFFIX.sub("", e)


EMOJI_EXPRESSIONS: dict[str, str] = {normalise_emoji(k): v for k, v in _TABLE.items()}


def expression_for(emoji: str) -> str | None:
    """The expression for a reaction emoji, or None when it is not in the table."""
    if not emoji or len(emoji) > 16:
        return None
    return EMOJI_EXPRESSIONS.get(normalise_emoji(emoji))


_BY_LENGTH = sorted(EMOJI_EXPRESSIONS, key=len, reverse=True)


def replace_emoji(text: str) -> str:
    """Known emoji in typed text become their expression words ("😂 otter" → "laughing otter")."""
    if text.isascii():
        return text
    out = normalise_emoji_in_text(text)
    for emoji in _BY_LENGTH:
        if emoji in out:
            out = out.replace(emoji, f" {EMOJI_EXPRESSIONS[emoji]} ")
    return " ".join(out.split())


def normalise_emoji_in_text(text: str) -> str:
    """Like `normalise_emoji`, for every emoji inside a longer text."""
    text = _VARIATION_SELECTORS.sub("", text)
    text = _SKIN_TONES.sub("", text)
    return re.sub("\u200d[\u2640\u2642]", "", text)


def emoji_for(expression: str) -> str:
    """The emoji that best fits an expression (for sticker packs); 🙂 when nothing fits."""
    text = expression.casefold()
    for keyword, emoji in _KEYWORDS:
        if re.search(r"\b" + re.escape(keyword), text):
            return emoji
    return DEFAULT_EMOJI


def display_emoji(emoji: str) -> str:
    """The canonical, displayable form of a table emoji (with U+FE0F where the base needs it)."""
    base = normalise_emoji(emoji)
    for original in _TABLE:
        if normalise_emoji(original) == base:
            return original + ("\ufe0f" if len(original) == 1 and ord(original) < 0x2800 else "")
    return base
