"""From what a user typed to the prompt the engine draws.

`parse_text("eating otter style:rabbit n:4 seed:42")` pulls out the options and returns the
words ("eating otter"). `split_subject` finds a known subject in the words ("otter") and keeps
the rest as the expression ("eating"). `build_prompt` fills the style's template; when the
words name no subject, the style's default character is used ("sad" → "sad, otter, dm-sticker").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from bot.motion import AUTO, UnknownMotionName, normalise_motion, take_animated_word
from bot.types import ErrorKind, ServiceError, UserError
from generator.api import MAX_COUNT, MAX_PROMPT_CHARS, StyleSummary

MAX_TEXT_CHARS = MAX_PROMPT_CHARS
MAX_SEED = 2**31 - 1

COMMON_SUBJECTS: frozenset[str] = frozenset(
    """
    otter rabbit bunny cat kitten kitty dog puppy doggo fox wolf bear panda koala raccoon red panda
    hamster mouse rat squirrel hedgehog beaver sloth monkey gorilla lion tiger leopard cheetah horse
    pony unicorn cow pig sheep goat llama alpaca deer moose elephant giraffe zebra hippo rhino camel
    kangaroo capybara seal walrus whale dolphin shark octopus squid crab lobster fish goldfish turtle
    tortoise frog toad lizard gecko snake dragon dinosaur t-rex penguin owl duck duckling chicken chick
    goose swan parrot eagle pigeon crow flamingo bird bee butterfly ladybug snail spider axolotl
    shiba corgi pug husky ferret mole bat
    robot ghost alien monster zombie vampire witch wizard knight pirate ninja astronaut princess prince
    king queen mermaid fairy elf goblin troll cowboy chef doctor teacher baby girl boy man woman
    grandma grandpa skeleton snowman cupcake potato avocado banana strawberry cactus mushroom
    """.split()
) | frozenset({"red panda", "polar bear", "teddy bear", "guinea pig", "sea otter", "t rex"})

_ARTICLES = frozenset({"a", "an", "the", "my", "your", "this", "that", "some"})
_OPTION = re.compile(
    r"(?<!\S)(?:--(?P<flag>style|seed|count|n)(?:=|\s+)|(?P<key>style|seed|count|n|anim):)(?P<value>\S+)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ParsedText:
    words: str  # the text without options, whitespace collapsed
    style: str | None = None
    count: int | None = None
    seed: int | None = None
    animate: str | None = None  # `anim:wave` / `animated`: a motion, "diffusion" or "auto" (bot.motion)


def invalid(message: str, kind: ErrorKind = ErrorKind.INVALID) -> UserError:
    return UserError(kind, message)


PromptError = ServiceError  # a request the user must fix; carries the `UserError` to show


def clean_text(text: str) -> str:
    """NFC, whitespace (incl. newlines) collapsed to single spaces, invisible format chars dropped.

    Raises PromptError for control characters and text over the length limit.
    """
    text = unicodedata.normalize("NFC", text)
    if len(text) > MAX_TEXT_CHARS:
        raise PromptError(
            invalid(
                f"That's too long — keep it under {MAX_TEXT_CHARS} characters.", ErrorKind.PROMPT_TOO_LONG
            )
        )
    out: list[str] = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "\t\n\r" or ch.isspace():
            out.append(" ")
        elif cat == "Cc":
            raise PromptError(invalid("That text has control characters in it — please retype it."))
        elif cat == "Cf" and ch != "\u200d":  # keep ZWJ: it joins emoji
            continue
        else:
            out.append(ch)
    return " ".join("".join(out).split())


def parse_count(value: str | int) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise PromptError(invalid(f"Count must be a number from 1 to {MAX_COUNT}.")) from None
    if not 1 <= n <= MAX_COUNT:
        raise PromptError(invalid(f"Count must be from 1 to {MAX_COUNT}."))
    return n


def parse_seed(value: str | int) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise PromptError(invalid(f"Seed must be a whole number from 0 to {MAX_SEED}.")) from None
    if not 0 <= n <= MAX_SEED:
        raise PromptError(invalid(f"Seed must be a whole number from 0 to {MAX_SEED}."))
    return n


def parse_text(text: str) -> ParsedText:
    """Split options (`style:NAME`, `n:4`/`count:4`, `seed:42`, `--seed 42`) from the words."""
    cleaned = clean_text(text)
    found: dict[str, str] = {}

    def take(m: re.Match[str]) -> str:
        name = (m.group("flag") or m.group("key")).lower()
        found["count" if name == "n" else name] = m.group("value")
        return " "

    words, animated = take_animated_word(" ".join(_OPTION.sub(take, cleaned).split()))
    style = found.get("style")
    return ParsedText(
        words=words,
        style=style.lower() if style else None,
        count=parse_count(found["count"]) if "count" in found else None,
        seed=parse_seed(found["seed"]) if "seed" in found else None,
        animate=parse_motion(found["anim"]) if "anim" in found else AUTO if animated else None,
    )


def parse_motion(value: str) -> str:
    try:
        return normalise_motion(value)
    except UnknownMotionName as exc:
        raise PromptError(invalid(str(exc))) from None


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


_QUANTITIES = frozenset("two three four five six seven eight nine ten many several".split())


def _is_quantity(token: str) -> bool:
    return token.isdigit() or token.casefold() in _QUANTITIES


def split_subject(words: str, subjects: Iterable[str]) -> tuple[str, str | None]:
    """(expression, subject) — the longest known subject phrase in `words`, as the user wrote it.

    "eating otter" → ("eating", "otter"); "an otter eating fish" → ("eating fish", "otter");
    "sad" → ("sad", None).
    """
    known = {s.casefold() for s in subjects}
    tokens = words.split()
    keys = [re.sub(r"[^\w-]", "", t.casefold()) for t in tokens]
    longest = max((len(s.split()) for s in known), default=1)
    for size in range(min(longest, len(tokens)), 0, -1):
        for start in range(len(tokens) - size + 1):
            phrase = keys[start : start + size]
            if not all(phrase):
                continue
            plain = " ".join(phrase)
            single = " ".join([*phrase[:-1], _singular(phrase[-1])])
            if plain in known or single in known:
                first = start
                while first > 0 and _is_quantity(tokens[first - 1]):  # "two cats" stays together
                    first -= 1
                subject = " ".join(tokens[first : start + size]).strip(",.!?;:")
                before = tokens[:first]
                while before and before[-1].casefold() in _ARTICLES:
                    before.pop()
                expression = " ".join(before + tokens[start + size :]).strip(" ,")
                return expression, subject
    return words.strip(" ,"), None


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def fill_template(template: str, expression: str, subject: str, trigger: str) -> str:
    """Fill `{expression}`, `{subject}`, `{trigger}`; empty parts leave no stray commas."""
    try:
        text = template.format_map(_Blank(expression=expression, subject=subject, trigger=trigger))
    except (ValueError, IndexError, AttributeError):
        text = f"{expression}, {subject}, {trigger}"
    parts = [p.strip() for p in text.split(",")]
    return ", ".join(p for p in parts if p)


def known_subjects(styles: Iterable[StyleSummary]) -> frozenset[str]:
    return COMMON_SUBJECTS | {s.subject.casefold() for s in styles if s.subject}


@dataclass(frozen=True, slots=True)
class BuiltPrompt:
    prompt: str
    expression: str
    subject: str


def build_prompt(words: str, style: StyleSummary, subjects: Iterable[str]) -> BuiltPrompt:
    expression, subject = split_subject(words, subjects)
    subject = subject or style.subject
    return BuiltPrompt(fill_template(style.template, expression, subject, style.trigger), expression, subject)


def build_expression_prompt(expression: str, style: StyleSummary) -> BuiltPrompt:
    """For reactions: the style's own character with the emoji's expression."""
    return BuiltPrompt(
        fill_template(style.template, expression, style.subject, style.trigger), expression, style.subject
    )
