"""The prompt filter: a block list that is hard to fool, behind a small pluggable protocol.

`BlockListFilter` compares a *skeleton* of the text with skeletons of the blocked terms. The
skeleton is NFKC-folded (fullwidth and mathematical letters become plain), case-folded, stripped of
accents and invisible characters, with look-alike letters (Cyrillic/Greek homoglyphs) and leetspeak
(0 1 3 4 5 7 @ $ !) mapped onto one Latin letter and repeated letters squeezed. A term matches
when it appears as whole words, or when it is spelled across several pieces that start and end on
piece boundaries ("n u d e", "n.u.d.e", "nu de") — so "Sussex" or "analysis" stay allowed.

Replace it with any object that has `async check(text) -> SafetyVerdict` (e.g. a classifier).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

REFUSAL = "Sorry, I can't make that sticker. Try something else?"

DEFAULT_BLOCK_LIST: tuple[str, ...] = (
    "nude",
    "nudes",
    "naked",
    "nsfw",
    "porn",
    "porno",
    "pornographic",
    "sex",
    "sexual",
    "sexy",
    "hentai",
    "erotic",
    "fetish",
    "bdsm",
    "orgasm",
    "genitals",
    "penis",
    "vagina",
    "boobs",
    "tits",
    "nipples",
    "topless",
    "undressed",
    "lingerie",
    "stripper",
    "rape",
    "molest",
    "pedophile",
    "gore",
    "gory",
    "decapitated",
    "beheaded",
    "dismembered",
    "disembowel",
    "mutilated",
    "suicide",
    "self harm",
    "kill yourself",
    "swastika",
    "nazi",
    "terrorist",
)

# Look-alike letters → the Latin letter they imitate (after case folding).
_HOMOGLYPHS = {
    # Cyrillic
    "а": "a",
    "в": "b",
    "е": "e",
    "ё": "e",
    "з": "3",
    "і": "i",
    "ї": "i",
    "ј": "j",
    "к": "k",
    "м": "m",
    "н": "h",
    "о": "o",
    "р": "p",
    "с": "c",
    "т": "t",
    "у": "y",
    "х": "x",
    "ѕ": "s",
    "ԁ": "d",
    "ԛ": "q",
    "ԝ": "w",
    "ɡ": "g",
    "ո": "n",
    "ս": "u",
    "һ": "h",
    "ь": "b",
    "п": "n",
    "и": "u",
    "г": "r",
    # Greek
    "α": "a",
    "β": "b",
    "γ": "y",
    "ε": "e",
    "η": "n",
    "ι": "i",
    "κ": "k",
    "ν": "v",
    "ο": "o",
    "ρ": "p",
    "τ": "t",
    "υ": "u",
    "χ": "x",
    "ω": "w",
    "ς": "s",
    "σ": "o",
    "μ": "u",
    # Latin oddities
    "ı": "i",
    "ł": "l",
    "ø": "o",
    "đ": "d",
    "ħ": "h",
    "ß": "ss",
    "æ": "ae",
    "œ": "oe",
    "ŀ": "l",
}
# Capital look-alikes whose lower case looks different (Greek Ν → ν would read as "v").
_CAPITALS = str.maketrans(
    {
        "Α": "a",
        "Β": "b",
        "Ε": "e",
        "Ζ": "z",
        "Η": "h",
        "Ι": "i",
        "Κ": "k",
        "Μ": "m",
        "Ν": "n",
        "Ο": "o",
        "Ρ": "p",
        "Τ": "t",
        "Υ": "y",
        "Χ": "x",
        "А": "a",
        "В": "b",
        "Е": "e",
        "К": "k",
        "М": "m",
        "Н": "h",
        "О": "o",
        "Р": "p",
        "С": "c",
        "Т": "t",
        "Х": "x",
    }
)
# Symbols that stand for a letter only inside a word ("n!pples"), not as trailing punctuation.
_INNER_ONLY = frozenset("!|+(")
# Leetspeak and symbols → letters. `1`, `l`, `|` and `!` all become `i` (the term gets the same
# treatment, so "nipples" and "n1pp1es" share one skeleton).
_LEET = {
    "0": "o",
    "1": "i",
    "l": "i",
    "|": "i",
    "!": "i",
    "3": "e",
    "4": "a",
    "@": "a",
    "5": "s",
    "$": "s",
    "7": "t",
    "+": "t",
    "8": "b",
    "9": "g",
    "2": "z",
    "6": "g",
    "(": "c",
    "€": "e",
    "£": "e",
}


@dataclass(frozen=True, slots=True)
class SafetyVerdict:
    allowed: bool
    reason: str | None = None  # what matched (for logs, never shown to the user)
    message: str = REFUSAL


ALLOWED = SafetyVerdict(True)


@runtime_checkable
class PromptFilter(Protocol):
    """Decides whether a user's text may be drawn."""

    async def check(self, text: str) -> SafetyVerdict: ...


_SMALL_CAPITALS = dict(zip("ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ", "abcdefghijklmnoprstuvwyz", strict=True))
_HOMOGLYPHS.update(_SMALL_CAPITALS)
_REGIONAL_A = 0x1F1E6  # regional indicator symbols 🇦…🇿 spell letters too


def _letter(ch: str) -> str:
    """One character of the skeleton alphabet ('' for separators)."""
    if _REGIONAL_A <= ord(ch) <= _REGIONAL_A + 25:
        return chr(ord("a") + ord(ch) - _REGIONAL_A)
    ch = _HOMOGLYPHS.get(ch, ch)
    if len(ch) > 1:
        return ch
    ch = _LEET.get(ch, ch)
    return ch if ch.isalpha() else ""


def _pieces(text: str) -> list[str]:
    """The text as skeleton pieces (split on spaces, punctuation and anything non-letter)."""
    text = unicodedata.normalize("NFKC", text).translate(_CAPITALS).casefold()
    text = "".join(
        c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) not in ("Mn", "Cf")
    )
    pieces: list[str] = []
    current: list[tuple[str, str]] = []  # (skeleton letters, original character)

    def flush() -> None:
        while current and current[-1][1] in _INNER_ONLY:
            current.pop()
        while current and current[0][1] in _INNER_ONLY:
            current.pop(0)
        if current:
            pieces.append(_squeeze("".join(m for m, _ in current)))
        current.clear()

    for ch in text:
        mapped = _letter(ch)
        if mapped:
            current.append((mapped, ch))
        else:
            flush()
    flush()
    return pieces


def _squeeze(s: str) -> str:
    out: list[str] = []
    for ch in s:
        if not out or out[-1] != ch:
            out.append(ch)
    return "".join(out)


def skeleton(text: str) -> str:
    """The comparison form of a term: pieces joined without separators."""
    return _squeeze("".join(_pieces(text)))


class BlockListFilter:
    """Blocks texts that contain a listed term, however it is disguised."""

    def __init__(self, terms: Iterable[str]) -> None:
        self._terms: dict[str, str] = {}
        for term in terms:
            term = term.strip()
            if term and not term.startswith("#"):
                sk = skeleton(term)
                if len(sk) >= 2:
                    self._terms.setdefault(sk, term)

    @classmethod
    def from_config(
        cls, extra: Iterable[str] = (), file: str | Path | None = None, *, builtin: bool = True
    ) -> BlockListFilter:
        terms = list(DEFAULT_BLOCK_LIST) if builtin else []
        terms.extend(extra)
        if file is not None:
            terms.extend(Path(file).read_text(encoding="utf-8").splitlines())
        return cls(terms)

    def __len__(self) -> int:
        return len(self._terms)

    def match(self, text: str) -> str | None:
        """The blocked term found in `text`, or None."""
        pieces = _pieces(text)
        if not pieces:
            return None
        joined = "".join(pieces)
        starts: set[int] = set()
        ends: set[int] = set()
        pos = 0
        for p in pieces:
            starts.add(pos)
            pos += len(p)
            ends.add(pos)
        # Squeezing across piece borders ("s s e x") must not break alignment: compare on the
        # squeezed joined string, mapping boundaries through the squeeze.
        squeezed, index = _squeeze_with_index(joined)
        s_starts = {index[i] for i in starts if i < len(index)}
        s_ends = {index[i - 1] + 1 for i in ends if i > 0}
        for sk, term in self._terms.items():
            at = squeezed.find(sk)
            while at != -1:
                end = at + len(sk)
                plural_end = end + 1 if squeezed[end : end + 1] == "s" else end
                if at in s_starts and (end in s_ends or plural_end in s_ends):
                    return term
                at = squeezed.find(sk, at + 1)
        return None

    async def check(self, text: str) -> SafetyVerdict:
        term = self.match(text)
        return ALLOWED if term is None else SafetyVerdict(False, reason=f"block list: {term}")


def _squeeze_with_index(s: str) -> tuple[str, list[int]]:
    """Squeeze repeated letters; `index[i]` is the squeezed position of original position i."""
    out: list[str] = []
    index: list[int] = []
    for ch in s:
        if not out or out[-1] != ch:
            out.append(ch)
        index.append(len(out) - 1)
    return "".join(out), index


def negative_prompt(*parts: str | None) -> str:
    """Comma-join negative prompts, dropping empties and duplicates (order kept)."""
    seen: dict[str, None] = {}
    for part in parts:
        for item in (part or "").split(","):
            item = item.strip()
            if item and item.casefold() not in {k.casefold() for k in seen}:
                seen[item] = None
    return ", ".join(seen)
