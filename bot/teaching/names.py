"""Subject names ("dog", "grey cat") and references to them in prompts ("my dog", "@me:dog").

A name is 1-24 lowercase letters, digits and single spaces, starting with a letter: it never
reaches a file path (files are named by job id), but it is shown in chats and built into prompts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.teaching.errors import TeachError

NAME_RE = re.compile(r"^[a-z][a-z0-9 ]{0,23}$")
RESERVED = frozenset({"all", "me", "my", "help"})
IDENTIFIER = "sks"  # the DreamBooth paper's rare token, bound to the subject by training


def clean_name(raw: str) -> str:
    """`"  My Dog "` -> `"my dog"`; TeachError for anything else."""
    text = " ".join(str(raw).split()).lower()
    text = text.removeprefix("my ").removeprefix("@me:").replace("-", " ").replace("_", " ")
    if not NAME_RE.fullmatch(text) or text in RESERVED:
        raise TeachError(
            "Give it a short name: 1-24 lowercase letters, digits or spaces, starting with a letter "
            "(e.g. /teach dog)."
        )
    return text


def token_for(name: str) -> str:
    """The words the LoRA binds to the subject (and the prompt uses): "sks dog"."""
    return f"{IDENTIFIER} {name}"


@dataclass(frozen=True, slots=True)
class Reference:
    name: str
    start: int
    end: int

    def without(self, text: str) -> str:
        return " ".join((text[: self.start] + " " + text[self.end :]).split())


def find_reference(text: str, names: Iterable[str]) -> Reference | None:
    """The first `my <name>` / `@me:<name>` / `sks <name>` in `text` for one of `names` (longest wins);
    `@me:<name>` with an unknown name is reported too (its name not in `names`)."""
    known = sorted(set(names), key=len, reverse=True)
    best: Reference | None = None
    for name in known:
        words = r"[\s_-]+".join(re.escape(part) for part in name.split())
        pattern = rf"(?i)(?<![\w@])(?:my|{IDENTIFIER})\s+{words}(?![\w])|(?<![\w])@me:{words}(?![\w-])"
        match = re.search(pattern, text)
        if match and (best is None or match.start() < best.start):
            best = Reference(name, match.start(), match.end())
    if best is None:
        explicit = re.search(r"(?i)(?<![\w])@me:([a-z][a-z0-9_-]{0,23})", text)
        if explicit:
            return Reference(explicit.group(1).lower().replace("-", " ").replace("_", " "), *explicit.span())
    return best
