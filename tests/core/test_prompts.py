from __future__ import annotations

import pytest

from bot.prompts import (
    COMMON_SUBJECTS,
    build_expression_prompt,
    build_prompt,
    fill_template,
    known_subjects,
    parse_text,
    split_subject,
)
from bot.types import ErrorKind, ServiceError
from tests.fakes.fake_engine import FAKE_STYLES

OTTER, RABBIT = FAKE_STYLES
SUBJECTS = known_subjects(FAKE_STYLES)


@pytest.mark.parametrize(
    ("text", "words", "style", "count", "seed"),
    [
        ("eating otter", "eating otter", None, None, None),
        ("eating otter style:rabbit n:4 seed:42", "eating otter", "rabbit", 4, 42),
        ("count:2 sad", "sad", None, 2, None),
        ("sad --seed 7", "sad", None, None, 7),
        ("sad --seed=8 --style Rabbit", "sad", "rabbit", None, 8),
        ("  waving \n hello\t", "waving hello", None, None, None),
        ("ratio:2 is not an option", "ratio:2 is not an option", None, None, None),
    ],
)
def test_parse_text_options(
    text: str, words: str, style: str | None, count: int | None, seed: int | None
) -> None:
    parsed = parse_text(text)
    assert (parsed.words, parsed.style, parsed.count, parsed.seed) == (words, style, count, seed)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("x" * 301, ErrorKind.PROMPT_TOO_LONG),
        ("sad\x00otter", ErrorKind.INVALID),
        ("sad\x1b[31m", ErrorKind.INVALID),
        ("sad n:5", ErrorKind.INVALID),
        ("sad n:0", ErrorKind.INVALID),
        ("sad seed:-1", ErrorKind.INVALID),
        ("sad seed:abc", ErrorKind.INVALID),
    ],
)
def test_parse_text_rejects(text: str, kind: ErrorKind) -> None:
    with pytest.raises(ServiceError) as info:
        parse_text(text)
    assert info.value.error.kind == kind
    assert len(info.value.error.message) < 100


def test_zero_width_characters_are_dropped() -> None:
    assert parse_text("sa\u200bd ot\u2060ter").words == "sad otter"


@pytest.mark.parametrize(
    ("words", "expression", "subject"),
    [
        ("eating otter", "eating", "otter"),
        ("an otter eating fish", "eating fish", "otter"),
        ("sad", "sad", None),
        ("two cats dancing", "dancing", "two cats"),
        ("3 dogs", "", "3 dogs"),
        ("angry red panda", "angry", "red panda"),
        ("Happy Rabbit!", "Happy", "Rabbit"),
        ("category theory", "category theory", None),
    ],
)
def test_split_subject(words: str, expression: str, subject: str | None) -> None:
    assert split_subject(words, SUBJECTS) == (expression, subject)


def test_common_subjects_list_is_broad() -> None:
    assert len(COMMON_SUBJECTS) >= 60
    assert {"cat", "dog", "robot", "dragon", "penguin"} <= COMMON_SUBJECTS


def test_style_default_subject_fills_in() -> None:
    assert build_prompt("sad", OTTER, SUBJECTS).prompt == "sad, otter, dm-sticker"
    assert build_prompt("sad", RABBIT, SUBJECTS).prompt == "sad, rabbit, dm-sticker"
    assert build_prompt("eating cat", OTTER, SUBJECTS).prompt == "eating, cat, dm-sticker"


def test_template_without_expression_leaves_no_stray_commas() -> None:
    assert build_prompt("otter", OTTER, SUBJECTS).prompt == "otter, dm-sticker"
    assert fill_template("{expression}, {subject} {unknown}, {trigger}", "", "cat", "t") == "cat, t"


def test_reaction_prompt_uses_the_styles_character() -> None:
    built = build_expression_prompt("thumbs up", RABBIT)
    assert built.prompt == "thumbs up, rabbit, dm-sticker"
    assert built.subject == "rabbit"
