"""bot/motion.py and the `animated` / `anim:` options: which motion a request gets."""

from __future__ import annotations

import pytest

from bot.motion import (
    MOTION_BY_EMOJI,
    motion_for_emoji,
    motion_for_expression,
    normalise_motion,
    resolve,
)
from bot.prompts import parse_text
from bot.types import ServiceError
from generator.animation.motion import PRESETS


@pytest.mark.parametrize(
    ("emoji", "motion"),
    [("😂", "shake"), ("❤️", "pulse"), ("👋🏽", "wave"), ("🎉", "pop-in"), ("😴", "float"), ("🤔", "wiggle")],
)
def test_emoji_table(emoji: str, motion: str) -> None:
    assert motion_for_emoji(emoji) == motion


def test_every_table_entry_is_a_real_preset() -> None:
    assert set(MOTION_BY_EMOJI.values()) <= set(PRESETS)


@pytest.mark.parametrize(
    ("expression", "motion"),
    [
        ("laughing", "shake"),
        ("sleeping", "float"),
        ("waving hello", "wave"),
        ("celebrating with confetti", "pop-in"),
        ("I love you", "pulse"),
        ("dancing", "wiggle"),
        ("reading a book", "bounce"),  # nothing fits: a gentle default
    ],
)
def test_expression_chooses_a_motion(expression: str, motion: str) -> None:
    assert motion_for_expression(expression) == motion
    assert resolve("auto", expression) == motion


def test_named_motions_win_and_aliases_work() -> None:
    assert resolve("spin", "sleeping") == "spin"
    assert normalise_motion("Heartbeat") == "pulse"
    assert normalise_motion("video") == "diffusion"


@pytest.mark.parametrize(
    ("text", "words", "animate"),
    [
        ("waving otter anim:wave", "waving otter", "wave"),
        ("animated sad cat n:2", "sad cat", "auto"),
        ("otter anim:diffusion", "otter", "diffusion"),
        ("Animated otter", "otter", "auto"),
        ("animation festival otter", "animation festival otter", None),
        ("eating otter", "eating otter", None),
    ],
)
def test_parse_text_reads_the_animation_option(text: str, words: str, animate: str | None) -> None:
    parsed = parse_text(text)
    assert (parsed.words, parsed.animate) == (words, animate)


def test_unknown_motion_is_one_clear_line() -> None:
    with pytest.raises(ServiceError) as info:
        parse_text("otter anim:moonwalk")
    assert "moonwalk" in info.value.error.message and "bounce" in info.value.error.message
