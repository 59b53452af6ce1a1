"""What users read, the same on every platform: shared sentences, button labels and help facts.

Adapters may format these (HTML, Markdown, plain text) but never reword them, so an error, a
button or a help line reads the same on Telegram, Discord and in the web room.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.types import StickerReply
from generator.api import MAX_COUNT

VARIATIONS_COUNT = 4  # what "4 more" asks for

# Failures the core reports as `UserError.message`, and adapters show when the core gave no answer.
FAILED = "Something went wrong while making that sticker. Please try again."
UNEXPECTED = "Sorry, something went wrong on my side. Please try again."  # a handler failed outright
SHUTTING_DOWN = "The sticker bot is restarting. Please try again in a minute."
BUSY = "I'm very busy right now. Please try again in a minute."
TOO_LONG = "That took too long — try again."  # the request's end-to-end deadline passed
EMPTY_PROMPT = "Tell me what to draw, e.g. “eating otter”."
FORBIDDEN = "Only admins can change that here."
FORBIDDEN_STYLE = "Only admins can change the default style here."
STICKER_GONE = "That sticker is no longer stored. Please make a new one."

# Buttons under a result (the add button differs: a personal pack on Telegram, the server on Discord).
REROLL_EMOJI = "🔄"
REROLL_LABEL = "Reroll"
BUTTON_REROLL = f"{REROLL_EMOJI} {REROLL_LABEL}"
BUTTON_MORE = f"{VARIATIONS_COUNT} more"
BUTTON_ANIMATE = "🎬 Animate"

# The request options every platform's help names, as the user types them.
OPTION_EXAMPLES = ("style:NAME", f"n:{MAX_COUNT}", "seed:42")


def model_missing(model: str) -> str:
    """The answer while the diffusion model is not installed: names it and says who can fix it."""
    return (
        f"Stickers are unavailable: the model {model} is not installed here, so the bot's operator "
        "needs to download it or point model.path at a local copy."
    )


def style_unavailable(name: str) -> str:
    """For an installed style that cannot run now (its LoRA is missing or broken; the log says why)."""
    return f"The style '{name}' is unavailable right now. Please pick another style."


def options_hint(code: Callable[[str], str] = str) -> str:
    """ "Options: style:NAME, n:4, seed:42." with each option passed through `code` (markup)."""
    return "Options: " + ", ".join(code(o) for o in OPTION_EXAMPLES) + "."


def queue_text(position: int) -> str | None:
    """The place-in-line line ("⏳ #3 in line"); None once drawing has started (position 0)."""
    return f"⏳ #{position} in line" if position > 0 else None


def failure_text(reply: StickerReply) -> str | None:
    """What to tell the user instead of stickers, or None when the reply carries stickers."""
    if reply.error is not None:
        return reply.error.message
    return None if reply.stickers else FAILED
