"""Checks a `GenerationRequest` before it may enter the queue, with messages a chat user can act on."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from generator.api import (
    MAX_COUNT,
    MAX_PROMPT_CHARS,
    MAX_STEPS,
    MIN_STEPS,
    GenerationRequest,
    InvalidRequest,
    StyleSummary,
    UnknownStyle,
)

MIN_SIDE, MAX_SIDE = 64, 1024
MAX_NEGATIVE_CHARS = 1000
MAX_SEED = 2**63 - 1


def validate_request(request: GenerationRequest, styles: Mapping[str, StyleSummary]) -> StyleSummary:
    """Raise `InvalidRequest`/`UnknownStyle` for anything the engine must not run; return the style."""
    check_prompt(request.prompt)
    if request.negative_prompt is not None:
        if len(request.negative_prompt) > MAX_NEGATIVE_CHARS:
            raise InvalidRequest(
                f"The negative prompt is too long (at most {MAX_NEGATIVE_CHARS} characters)."
            )
        _check_controls(request.negative_prompt, "The negative prompt")
    style = styles.get(request.style)
    if style is None:
        known = ", ".join(sorted(styles)) or "none installed"
        raise UnknownStyle(f"Unknown style '{_shorten(request.style)}'. Available styles: {known}.")
    if not isinstance(request.count, int) or not 1 <= request.count <= MAX_COUNT:
        raise InvalidRequest(f"Ask for between 1 and {MAX_COUNT} stickers at once.")
    if request.steps is not None and not MIN_STEPS <= request.steps <= MAX_STEPS:
        raise InvalidRequest(f"Steps must be between {MIN_STEPS} and {MAX_STEPS}.")
    for side in (request.width, request.height):
        if not MIN_SIDE <= side <= MAX_SIDE or side % 8:
            raise InvalidRequest(
                f"Image sides must be multiples of 8 between {MIN_SIDE} and {MAX_SIDE} pixels."
            )
    if not 0 <= request.seed <= MAX_SEED - MAX_COUNT:
        raise InvalidRequest(f"The seed must be a whole number between 0 and 2^63 - {MAX_COUNT + 1}.")
    if request.timeout_s is not None and not request.timeout_s > 0:
        raise InvalidRequest("The timeout must be positive.")
    return style


def check_prompt(prompt: str) -> None:
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequest("The prompt is empty. Describe the sticker, e.g. 'eating otter'.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            f"The prompt is too long ({len(prompt)} characters; at most {MAX_PROMPT_CHARS})."
        )
    _check_controls(prompt, "The prompt")


def _check_controls(text: str, what: str) -> None:
    for char in text:
        if unicodedata.category(char) == "Cc":
            raise InvalidRequest(f"{what} contains a control character (U+{ord(char):04X}); use plain text.")


def _shorten(text: str, limit: int = 40) -> str:
    printable = "".join(c if c.isprintable() else "?" for c in text)
    return printable if len(printable) <= limit else printable[: limit - 1] + "…"
