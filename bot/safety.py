"""The prompt filter: a block list that is hard to fool, behind a small pluggable protocol.

`BlockListFilter` compares a *skeleton* of the text with skeletons of the blocked forms. The
skeleton is NFKC-folded (fullwidth and mathematical letters become plain), case-folded, stripped of
accents and invisible characters, with look-alike letters (Cyrillic/Greek homoglyphs) and leetspeak
(0 1 3 4 5 7 @ $ !) mapped onto one Latin letter and repeated letters squeezed. A form matches:
- as whole words, or spelled across pieces that start and end on piece boundaries ("n u d e",
  "n.u.d.e", "nu de") — so "Sussex" or "analysis" stay allowed;
- glued to an ordinary word ("nudeotter", "otternude", "pornstar");
- in inflected forms built from stems and real endings ("nudity", "sexually", "erotica"), while
  "nudge" or "sextant" stay allowed.
Ordinary phrases that contain a blocked word ("naked mole rat", "blue tits", "Al Gore") are set
aside first; terms of languages written without spaces match anywhere. The lists live in
`bot.safety_terms`; `tests/core/data/safety_corpus.tsv` measures recall and false refusals.

Replace it with any object that has `async check(text) -> SafetyVerdict` (e.g. a classifier).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from bot.safety_terms import (
    ALLOWED_PHRASES,
    BLOCKED_STEMS,
    BLOCKED_SUBSTRINGS,
    BLOCKED_UNSQUEEZED,
    BLOCKED_WORDS,
    COMPOUND_WORDS,
)

REFUSAL = "Sorry, I can't make that sticker. Try something else?"

DEFAULT_BLOCK_LIST: tuple[str, ...] = BLOCKED_WORDS

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


def _fold(text: str) -> str:
    """NFKC, capital look-alikes mapped, case-folded, accents and invisible characters dropped."""
    text = unicodedata.normalize("NFKC", text).translate(_CAPITALS).casefold()
    return "".join(
        c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) not in ("Mn", "Cf")
    )


def _raw_pieces(text: str) -> list[str]:
    """The text as skeleton pieces before squeezing (split on spaces, punctuation, non-letters)."""
    pieces: list[str] = []
    current: list[tuple[str, str]] = []  # (skeleton letters, original character)

    def flush() -> None:
        while current and current[-1][1] in _INNER_ONLY:
            current.pop()
        while current and current[0][1] in _INNER_ONLY:
            current.pop(0)
        if current:
            pieces.append("".join(m for m, _ in current))
        current.clear()

    for ch in _fold(text):
        mapped = _letter(ch)
        if mapped:
            current.append((mapped, ch))
        else:
            flush()
    flush()
    return pieces


def _pieces(text: str) -> list[str]:
    return [_squeeze(p) for p in _raw_pieces(text)]


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
    """Blocks texts that contain a listed term, however it is disguised, glued or inflected."""

    def __init__(
        self,
        terms: Iterable[str],
        *,
        stems: Mapping[str, Iterable[str]] | None = None,
        substrings: Iterable[str] = (),
        unsqueezed: Iterable[str] = (),
        allowed_phrases: Iterable[str] = (),
        compound_words: Iterable[str] = (),
    ) -> None:
        self._forms: dict[str, str] = {}  # skeleton -> the term as listed (for logs)
        for term in terms:
            term = term.strip()
            if term and not term.startswith("#"):
                self._add(term)
        for stem, endings in (stems or {}).items():
            for ending in endings:
                self._add(stem + ending)
        self._substrings = tuple(_fold(t) for t in substrings if t)
        self._unsqueezed = {"".join(_raw_pieces(t)): t for t in unsqueezed}
        self._allowed = {tuple(_raw_pieces(p)) for p in allowed_phrases} - {()}
        glue = {skeleton(w) for w in compound_words}
        self._glue = {g for g in glue | {g + "s" for g in glue} if len(g) >= 3}

    def _add(self, term: str) -> None:
        sk = skeleton(term)
        if len(sk) >= 2:
            self._forms.setdefault(sk, term)

    @classmethod
    def from_config(
        cls, extra: Iterable[str] = (), file: str | Path | None = None, *, builtin: bool = True
    ) -> BlockListFilter:
        terms = list(DEFAULT_BLOCK_LIST) if builtin else []
        terms.extend(extra)
        if file is not None:
            terms.extend(Path(file).read_text(encoding="utf-8").splitlines())
        if not builtin:
            return cls(terms)
        from bot.prompts import COMMON_SUBJECTS  # the subjects people write next to a word

        return cls(
            terms,
            stems=BLOCKED_STEMS,
            substrings=BLOCKED_SUBSTRINGS,
            unsqueezed=BLOCKED_UNSQUEEZED,
            allowed_phrases=ALLOWED_PHRASES,
            compound_words=(*COMPOUND_WORDS, *COMMON_SUBJECTS),
        )

    def __len__(self) -> int:
        return len(self._forms)

    def match(self, text: str) -> str | None:
        """The blocked term found in `text`, or None."""
        folded = _fold(text)
        for sub in self._substrings:
            if sub in folded:
                return sub
        raw = _raw_pieces(text)
        if not raw:
            return None
        kept = self._outside_allowed_phrases(raw)
        for piece, keep in zip(raw, kept, strict=True):
            if keep and piece in self._unsqueezed:
                return self._unsqueezed[piece]
        run: list[str] = []
        for piece, keep in [*zip(raw, kept, strict=True), ("", False)]:
            if keep:
                run.append(_squeeze(piece))
                continue
            found = self._match_spans(run) or self._match_glued(run) if run else None
            if found:
                return found
            run = []
        return None

    def _outside_allowed_phrases(self, raw: list[str]) -> list[bool]:
        """False for the pieces that belong to an allowed phrase ("naked mole rat")."""
        kept = [True] * len(raw)
        for phrase in self._allowed:
            n = len(phrase)
            for i in range(len(raw) - n + 1):
                if tuple(raw[i : i + n]) == phrase:
                    kept[i : i + n] = [False] * n
        return kept

    def _match_spans(self, pieces: list[str]) -> str | None:
        """A form that starts and ends on piece boundaries: a word, or one spelled across pieces."""
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
        for sk, term in self._forms.items():
            at = squeezed.find(sk)
            while at != -1:
                end = at + len(sk)
                plural_end = end + 1 if squeezed[end : end + 1] == "s" else end
                if at in s_starts and (end in s_ends or plural_end in s_ends):
                    return term
                at = squeezed.find(sk, at + 1)
        return None

    def _match_glued(self, pieces: list[str]) -> str | None:
        """A form glued to an ordinary word inside one piece: "nudeotter", "catporn"."""
        if not self._glue:
            return None
        forms = self._forms
        for piece in pieces:
            for k in range(2, len(piece) - 1):
                head, tail = piece[:k], piece[k:]
                # Squeezing may have merged the letter where the two words meet ("nudeeagle").
                if head in forms and (tail in self._glue or piece[k - 1 :] in self._glue):
                    return forms[head]
                if tail in forms and (head in self._glue or piece[: k + 1] in self._glue):
                    return forms[tail]
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
