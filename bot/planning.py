"""Request planning: from a neutral request to what will be drawn (prompt, style, seed, count, outline).

Pure: no database, no engine, no clock. The caller loads what the plan depends on (the scope's
settings, the parent record of a reroll, the styles) and passes it in; `plan_request` either
returns a `Plan` or raises `ServiceError` with the sentence to show. The sticker service and
`stickerbot generate` both plan with it, so a prompt typed on the command line is drawn exactly
as the same words typed in a chat (emoji turned into expressions, options parsed, limits checked).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from bot import emoji as emoji_table
from bot import messages
from bot.motion import UnknownMotionName, chat_motion, split_motion
from bot.motion import resolve as resolve_motion
from bot.prompts import (
    MAX_SEED,
    BuiltPrompt,
    ParsedText,
    build_expression_prompt,
    build_prompt,
    known_subjects,
    parse_count,
    parse_text,
)
from bot.settings import DEFAULT_STYLE
from bot.types import ErrorKind, RequestKind, ServiceError, StickerRecord, StickerRequest, UserError
from generator.api import MAX_PROMPT_CHARS, GenerationRequest, StyleSummary

REDO_KINDS = frozenset({RequestKind.REROLL, RequestKind.VARIATIONS, RequestKind.ANIMATE})
UNSCREENED_KINDS = frozenset(
    {RequestKind.REACTION, RequestKind.REROLL, RequestKind.VARIATIONS, RequestKind.ANIMATE}
)
"""Requests whose words were screened already (a stored result) or come from a fixed table (emoji)."""


def fail(kind: ErrorKind, message: str) -> ServiceError:
    return ServiceError(UserError(kind, message))


@dataclass(frozen=True, slots=True)
class ScopeSettings:
    """A scope's settings as stored: the conversation's own values and the server's."""

    conversation: Mapping[str, str] = field(default_factory=dict)
    server: Mapping[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.conversation.get(key, self.server.get(key, default))


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything decided before generating."""

    style: StyleSummary
    built: BuiltPrompt
    text: str  # what the user asked for (stored in the record, screened by the safety filter)
    count: int
    seed: int
    outline: bool | None
    emoji: str
    animate: str | None = None  # the motion preset when the result is animated (bot.motion)
    parent: StickerRecord | None = None
    subject_lora: str | None = None  # a taught subject's LoRA, fused on the style for this request


def generation_request(
    plan: Plan, *, request_id: str, steps: int | None = None, timeout_s: float | None = None
) -> GenerationRequest:
    """The engine's job for `plan` (candidate i uses seed `plan.seed + i`)."""
    return GenerationRequest(
        prompt=plan.built.prompt,
        style=plan.style.name,
        seed=plan.seed,
        count=plan.count,
        steps=steps,
        outline=plan.outline,
        timeout_s=timeout_s,
        request_id=request_id,
        subject_lora=plan.subject_lora,
    )


def needs_parent(request: StickerRequest) -> bool:
    """Whether planning `request` needs its parent record (a reroll or "4 more")."""
    return request.kind in REDO_KINDS and bool(request.parent_id)


def needs_screening(request: StickerRequest) -> bool:
    return request.kind not in UNSCREENED_KINDS


# ---------------------------------------------------------------------------------------------- styles
def style_named(styles: Sequence[StyleSummary], name: str, unavailable: Collection[str] = ()) -> StyleSummary:
    """The style called `name` (any case); "unavailable right now" for a known style that can't run
    (its LoRA is missing or broken), UNKNOWN_STYLE listing the styles otherwise."""
    by_name = {s.name: s for s in styles}
    key = name.strip().lower()
    if key in by_name:
        return by_name[key]
    if key in unavailable:
        raise fail(ErrorKind.FAILED, messages.style_unavailable(key))
    shown = "".join(ch for ch in name.strip() if ch.isprintable())[:40]
    raise fail(
        ErrorKind.UNKNOWN_STYLE, f"I don't know the style “{shown}”. Styles: {', '.join(sorted(by_name))}."
    )


def global_default_style(styles: Sequence[StyleSummary], configured: str) -> str:
    """`engine.default_style`, or the first style when that one is gone."""
    names = [s.name for s in styles]
    if configured in names or not names:
        return configured
    return names[0]


def default_style(styles: Sequence[StyleSummary], settings: ScopeSettings, configured: str) -> str:
    """The conversation's default, else the server's, else the global one (skipping styles that no
    longer exist)."""
    names = {s.name for s in styles}
    for level in (settings.conversation, settings.server):
        stored = level.get(DEFAULT_STYLE)
        if stored is not None and stored in names:
            return stored
    return global_default_style(styles, configured)


# ---------------------------------------------------------------------------------------------- plan
def plan_request(
    request: StickerRequest,
    *,
    styles: Sequence[StyleSummary],
    configured_style: str,
    unavailable: Collection[str] = (),
    settings: ScopeSettings | None = None,
    parent: StickerRecord | None = None,
    random_seed: Callable[[], int] = lambda: secrets.randbelow(MAX_SEED - 4),
) -> Plan:
    """Plan `request`. `parent` is the loaded record when `needs_parent(request)`; raises `ServiceError`."""
    found = settings or ScopeSettings()
    kind = request.kind
    if kind in REDO_KINDS:
        if not request.parent_id:
            raise fail(ErrorKind.INVALID, "Which sticker should I redo?")
        if parent is None:
            raise fail(ErrorKind.NOT_FOUND, messages.STICKER_GONE)
    else:
        parent = None

    expression: str | None = None
    if kind == RequestKind.REACTION:
        expression = emoji_table.expression_for(request.emoji or "")
        if expression is None:
            raise fail(ErrorKind.INVALID, "I don't have a sticker for that emoji.")
        if found.get("reactions", "on") == "off":
            raise fail(ErrorKind.FORBIDDEN, "Reaction stickers are turned off here.")
        parsed = ParsedText(words="")
    else:
        parsed = parse_text(request.text) if request.text else ParsedText(words="")

    style_name = request.style or parsed.style or (parent.style if parent else None)
    style = style_named(styles, style_name or default_style(styles, found, configured_style), unavailable)
    count = _count(request, parsed, parent, found)
    explicit_seed = request.seed if request.seed is not None else parsed.seed
    seed = explicit_seed if explicit_seed is not None and parent is None else random_seed()
    if kind == RequestKind.ANIMATE and parent is not None:
        seed = parent.seed  # that exact sticker (its candidate is chosen by `request.seed` later)
    if request.outline is not None:
        outline: bool | None = request.outline
    else:
        outline = {"on": True, "off": False}.get(found.get("outline", "auto") or "auto")

    parent_motion: str | None = None
    if expression is not None:
        built = build_expression_prompt(expression, style)
        text = request.emoji or ""
        pick = emoji_table.display_emoji(text)
    elif parent is not None:
        parent_text, parent_motion = split_motion(parent.text)  # an animated result stays animated
        if parent.style == style.name:
            built = BuiltPrompt(parent.prompt, "", "")
        else:
            built = build_prompt(parent_text, style, known_subjects(styles))
        text = parent_text
        pick = parent.emoji
    else:
        if not parsed.words:
            raise fail(ErrorKind.EMPTY_PROMPT, messages.EMPTY_PROMPT)
        words = emoji_table.replace_emoji(parsed.words)  # "😂 otter" → "laughing otter"
        built = build_prompt(words, style, known_subjects(styles))
        text = parsed.words
        pick = emoji_table.emoji_for(built.expression or words)
    if len(built.prompt) > MAX_PROMPT_CHARS:
        raise fail(
            ErrorKind.PROMPT_TOO_LONG, f"That's too long — keep it under {MAX_PROMPT_CHARS} characters."
        )
    return Plan(
        style=style,
        built=built,
        text=text,
        count=count,
        seed=seed,
        outline=outline,
        emoji=pick,
        animate=_motion(request, parsed, parent_motion, built.expression or text, pick),
        parent=parent,
    )


def _motion(
    request: StickerRequest, parsed: ParsedText, inherited: str | None, expression: str, emoji: str
) -> str | None:
    """The preset an animated request gets: named, inherited from an animated parent, or chosen by the
    expression (`auto`; the 🎬 button always animates)."""
    wanted = request.animate or parsed.animate or inherited
    if request.kind == RequestKind.ANIMATE:
        wanted = request.animate or "auto"
    if not wanted:
        return None
    try:
        motion = resolve_motion(wanted, expression, emoji)
        # 🎬 animates that exact sticker, which only a preset can; a new request may ask for diffusion.
        return chat_motion(motion, expression) if request.kind == RequestKind.ANIMATE else motion
    except UnknownMotionName as exc:
        raise fail(ErrorKind.INVALID, str(exc)) from None


def _count(
    request: StickerRequest, parsed: ParsedText, parent: StickerRecord | None, found: ScopeSettings
) -> int:
    """The request's own count, else the text's `n:`, else 4 for "4 more", the parent's, the setting's."""
    if request.count is not None:
        return parse_count(request.count)
    if parsed.count is not None:
        return parsed.count
    if request.kind == RequestKind.VARIATIONS:
        return messages.VARIATIONS_COUNT
    if parent is not None:
        return parent.count
    return parse_count(found.get("count", "1") or "1")
