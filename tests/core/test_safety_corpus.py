"""The prompt filter measured on a labelled corpus (tests/core/data/safety_corpus.tsv).

Recall = blocked prompts refused / blocked prompts; false refusals = allowed prompts refused / allowed
prompts. The corpus mixes disguises, inflections, joined words, slang and nine languages with innocent
words that contain a blocked one ("Sussex", "naked mole rat", "blue tits", "gore-tex").
"""

from __future__ import annotations

from pathlib import Path

from bot.safety import BlockListFilter

CORPUS = Path(__file__).parent / "data" / "safety_corpus.tsv"


def load_corpus() -> list[tuple[str, str, str]]:
    rows = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, text, lang = line.split("\t")
            assert label in ("block", "allow"), line
            rows.append((label, text, lang))
    return rows


def test_corpus_is_large_and_multilingual() -> None:
    rows = load_corpus()
    assert len(rows) >= 150
    assert {lang for _, _, lang in rows} >= {"en", "de", "fr", "es", "it", "ru", "ja", "zh", "ko"}
    assert sum(label == "block" for label, _, _ in rows) >= 60
    assert sum(label == "allow" for label, _, _ in rows) >= 60


def test_recall_and_false_refusals_meet_targets() -> None:
    flt = BlockListFilter.from_config()
    rows = load_corpus()
    blocked = [text for label, text, _ in rows if label == "block"]
    allowed = [text for label, text, _ in rows if label == "allow"]
    missed = [text for text in blocked if flt.match(text) is None]
    refused = [text for text in allowed if flt.match(text) is not None]
    recall = 1 - len(missed) / len(blocked)
    false_refusals = len(refused) / len(allowed)
    assert recall >= 0.95, f"recall {recall:.3f}; missed: {missed}"
    assert false_refusals <= 0.03, f"false refusals {false_refusals:.3f}: {refused}"


def test_allowed_phrase_does_not_shield_a_blocked_word_next_to_it() -> None:
    flt = BlockListFilter.from_config()
    assert flt.match("naked mole rat") is None
    assert flt.match("naked mole rat nude") is not None
    assert flt.match("blue tits and boobs") is not None
    assert flt.match("rapping") is None and flt.match("raping") is not None
