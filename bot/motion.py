"""Which motion an animated sticker gets: named by the user, or chosen from its expression.

`anim:wave` names a preset, `anim:diffusion` asks for video diffusion, and a bare `animated` lets the
expression choose (😂 shakes, ❤️ beats, 👋 waves, 🎉 pops in, 😴 floats …), like the emoji table.
"""

from __future__ import annotations

import logging
import re

from bot.emoji import emoji_for, normalise_emoji
from generator.animation.motion import ALIASES, PRESETS

log = logging.getLogger(__name__)

DIFFUSION = "diffusion"
AUTO = "auto"
DEFAULT_MOTION = "bounce"
_DIFFUSION_NAMES = frozenset({"diffusion", "video", "ai"})

# emoji → motion preset (emoji in the base form `bot.emoji.normalise_emoji` gives)
MOTION_BY_EMOJI: dict[str, str] = {
    "😂": "shake",
    "🤣": "shake",
    "😆": "shake",
    "😡": "shake",
    "😠": "shake",
    "🤬": "shake",
    "😱": "shake",
    "🥶": "shake",
    "😤": "shake",
    "❤": "pulse",
    "😍": "pulse",
    "🥰": "pulse",
    "😘": "pulse",
    "💔": "pulse",
    "💪": "pulse",
    "🔥": "pulse",
    "🤩": "pulse",
    "👋": "wave",
    "🙏": "wave",
    "🤗": "wave",
    "🎉": "pop-in",
    "🥳": "pop-in",
    "🎂": "pop-in",
    "🤯": "pop-in",
    "😮": "pop-in",
    "😴": "float",
    "🥱": "float",
    "😇": "float",
    "👻": "float",
    "🫠": "float",
    "😭": "squash",
    "😢": "squash",
    "🥺": "squash",
    "😋": "squash",
    "😵": "spin",
    "🤪": "spin",
    "🤔": "wiggle",
    "😎": "wiggle",
    "😏": "wiggle",
    "🤷": "wiggle",
    "😈": "wiggle",
    "😄": "bounce",
    "😀": "bounce",
    "😊": "bounce",
    "👍": "bounce",
    "👏": "bounce",
}

# words of an expression that name a motion outright ("dancing otter" wiggles), checked first
_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("danc", "wiggle"),
    ("jump", "bounce"),
    ("hop", "bounce"),
    ("spin", "spin"),
    ("float", "float"),
    ("fly", "float"),
    ("shiver", "shake"),
    ("shak", "shake"),
    ("tremb", "shake"),
)


class UnknownMotionName(ValueError):
    def __init__(self, name: str) -> None:
        names = ", ".join([*PRESETS, DIFFUSION])
        super().__init__(f"I don't know the motion '{name}'. Try one of: {names}.")


def motion_names() -> list[str]:
    return [*PRESETS, DIFFUSION]


def normalise_motion(name: str) -> str:
    """A preset name, `diffusion` or `auto` from what the user typed (`anim:Heartbeat` → `pulse`)."""
    key = name.strip().lower().replace("_", "-")
    if key in ("", AUTO, "animated", "yes", "on"):
        return AUTO
    if key in _DIFFUSION_NAMES:
        return DIFFUSION
    key = ALIASES.get(key, key)
    if key not in PRESETS:
        raise UnknownMotionName(name)
    return key


def motion_for_expression(expression: str) -> str:
    """The preset that fits an expression: keywords first, then its emoji, then a gentle bounce."""
    text = expression.lower()
    for keyword, motion in _KEYWORDS:
        if keyword in text:
            return motion
    return MOTION_BY_EMOJI.get(normalise_emoji(emoji_for(expression)), DEFAULT_MOTION)


def motion_for_emoji(emoji: str) -> str:
    return MOTION_BY_EMOJI.get(normalise_emoji(emoji), DEFAULT_MOTION)


_ANIMATED_WORD = re.compile(r"(?<!\S)animated(?!\S)", re.IGNORECASE)


def take_animated_word(words: str) -> tuple[str, bool]:
    """Remove a bare `animated` from the words; True when it was there."""
    stripped, found = _ANIMATED_WORD.subn(" ", words)
    return " ".join(stripped.split()), found > 0


def resolve(requested: str, expression: str, emoji: str = "") -> str:
    """The motion to use: the named preset, `diffusion`, or (for `auto`) the expression's preset
    (the sticker's emoji's when the expression is unknown, e.g. for a reroll)."""
    motion = normalise_motion(requested)
    if motion != AUTO:
        return motion
    return motion_for_expression(expression) if expression or not emoji else motion_for_emoji(emoji)


def chat_motion(motion: str, expression: str) -> str:
    """The preset for animating an exact finished sticker (🎬): diffusion draws anew, so the expression's
    preset stands in for it."""
    if motion == DIFFUSION:
        log.info("diffusion asked for an existing sticker: using the expression's preset")
        return motion_for_expression(expression)
    return motion


_MOTION_SUFFIX = re.compile(r"\s+anim:(\S+)$")


def with_motion(text: str, motion: str | None) -> str:
    """A record's text that remembers its animation (`sad otter anim:squash`), so a reroll animates too."""
    return f"{text} anim:{motion}" if motion else text


def split_motion(text: str) -> tuple[str, str | None]:
    """The inverse of `with_motion`: (text, motion or None)."""
    found = _MOTION_SUFFIX.search(text)
    return (text[: found.start()], found.group(1)) if found else (text, None)
