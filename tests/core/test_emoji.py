from __future__ import annotations

import pytest

from bot.emoji import (
    EMOJI_EXPRESSIONS,
    display_emoji,
    emoji_for,
    expression_for,
    normalise_emoji,
    replace_emoji,
)


def test_table_has_at_least_40_emoji() -> None:
    assert len(EMOJI_EXPRESSIONS) >= 40
    # Every key is stored in the form lookups reduce to; a key with a selector or tone could never match.
    assert all(normalise_emoji(key) == key for key in EMOJI_EXPRESSIONS)
    expressions = list(EMOJI_EXPRESSIONS.values())
    assert all(e.strip() == e and e and e.isprintable() for e in expressions)


@pytest.mark.parametrize("key", sorted(EMOJI_EXPRESSIONS))
def test_every_entry_is_found_in_every_spelling(key: str) -> None:
    """A reaction arrives with a variation selector, a skin tone or a gender ZWJ suffix; all mean the same."""
    expression = EMOJI_EXPRESSIONS[key]
    spellings = [
        key,
        display_emoji(key),  # what platforms send for ❤ / ✌ (U+FE0F)
        key + "\ufe0e",  # text presentation
        key + "\U0001f3fd",  # medium skin tone
        key + "\U0001f3ff\u200d\u2640\ufe0f",  # dark skin tone, female sign
        key + "\u200d\u2642",  # male sign, no selector
    ]
    assert [expression_for(s) for s in spellings] == [expression] * len(spellings)
    assert replace_emoji(f"{display_emoji(key)} otter") == f"{expression} otter"


def test_a_zwj_sequence_of_two_emoji_is_not_the_first_one() -> None:
    # 🏳️‍🌈 is a flag, not 🏳; "👍‍😂" must not count as a thumbs up.
    assert expression_for("\U0001f44d\u200d\U0001f602") is None


@pytest.mark.parametrize(
    ("emoji", "expression"),
    [
        ("😂", "laughing"),
        ("😭", "crying loudly"),
        ("❤️", "I love you"),
        ("❤", "I love you"),
        ("👍", "thumbs up"),
        ("👍🏽", "thumbs up"),
        ("👍🏿", "thumbs up"),
        ("😡", "angry"),
        ("😴", "sleeping"),
        ("🎉", "celebrating with confetti"),
        ("🤔", "thinking"),
        ("😱", "shocked, screaming"),
        ("🙏", "thank you, hands together"),
        ("🙏🏻", "thank you, hands together"),
        ("🤦‍♀️", "facepalm"),
        ("🤷🏾‍♂️", "shrugging"),
        ("✌︎", "peace sign"),
    ],
)
def test_expression_for_known_emoji_in_every_form(emoji: str, expression: str) -> None:
    assert expression_for(emoji) == expression


@pytest.mark.parametrize("emoji", ["🦄", "🏳️‍🌈", "x", "", "😂" * 20, "\ufe0f"])
def test_unknown_emoji_is_none(emoji: str) -> None:
    assert expression_for(emoji) is None


def test_normalise_strips_selectors_and_tones() -> None:
    assert normalise_emoji("👋🏼") == "👋"
    assert normalise_emoji("❤️") == "\u2764"


@pytest.mark.parametrize(
    ("expression", "emoji"),
    [
        ("laughing", "😂"),
        ("crying in the rain", "😭"),
        ("I love you", "❤️"),
        ("eating pizza", "🍕"),
        ("eating", "😋"),
        ("angry", "😡"),
        ("quantum physics", "🙂"),
    ],
)
def test_emoji_for_expression(expression: str, emoji: str) -> None:
    assert emoji_for(expression) == emoji


def test_every_table_expression_maps_back_to_an_emoji() -> None:
    fitting = [e for e in EMOJI_EXPRESSIONS.values() if emoji_for(e) != "🙂"]
    assert len(fitting) >= 35


def test_display_emoji_restores_the_emoji_presentation() -> None:
    assert display_emoji("❤") == "❤\ufe0f"
    assert display_emoji("👍🏽") == "👍"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("😂 otter", "laughing otter"),
        ("otter👍🏽", "otter thumbs up"),
        ("❤️❤️", "I love you I love you"),
        ("🦄 otter", "🦄 otter"),
        ("plain text", "plain text"),
    ],
)
def test_typed_emoji_become_expressions(text: str, words: str) -> None:
    assert replace_emoji(text) == words
