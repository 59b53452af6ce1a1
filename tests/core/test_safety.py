from __future__ import annotations

from pathlib import Path

import pytest

from bot.safety import (
    DEFAULT_BLOCK_LIST,
    BlockListFilter,
    PromptFilter,
    SafetyVerdict,
    skeleton,
)
from tests.contract import assert_implements

FILTER = BlockListFilter.from_config(["banana split"])


@pytest.mark.parametrize(
    "text",
    [
        "nude otter",
        "NUDE otter",
        "NuDe otter",
        "n u d e otter",
        "n.u.d.e otter",
        "n-u-d-e otter",
        "n_u_d_e otter",
        "nu de otter",
        "n\u200bu\u200cd\u200de otter",  # zero-width space / non-joiner / joiner
        "n\u00adude otter",  # soft hyphen
        "nudе otter",  # Cyrillic е
        "nаkеd otter",  # Cyrillic а, е
        "nυde otter",  # Greek upsilon
        "ｎｕｄｅ otter",  # fullwidth
        "𝐧𝐮𝐝𝐞 otter",  # mathematical bold
        "ⓝⓤⓓⓔ otter",  # circled
        "ɴᴜᴅᴇ otter",  # small capitals
        "🇳🇺🇩🇪 otter",  # regional indicator letters
        "nüde otter",  # accent
        "nuuuude otter",
        "nud3 otter",
        "p0rn",
        "n!pples",
        "|nude|",
        "$3x otter",
        "5ex otter",
        "s3xy otter",
        "n1pp1es",
        "nipples!!!",
        "otters, nudes",
        "BANANA SPLIT otter",
        "banana-split",
        "b a n a n a s p l i t",
        "kill your self",
        "g.o.r.e",
    ],
)
def test_blocked_despite_disguise(text: str) -> None:
    assert FILTER.match(text) is not None, text


@pytest.mark.parametrize(
    "text",
    [
        "eating otter",
        "otter from Sussex",
        "Essex otter",
        "otter doing analysis",
        "canal otter",
        "sextant navigator otter",
        "therapist otter",
        "grapes",
        "class exam",
        "undergone training",
        "lol",
        "scrape the bowl",
        "Spanish otter",
        "cocktail party",
        "bananas",
        "",
        "!!!",
    ],
)
def test_ordinary_prompts_pass(text: str) -> None:
    assert FILTER.match(text) is None, text


async def test_check_returns_polite_short_refusal() -> None:
    verdict = await FILTER.check("n.u.d.e")
    assert not verdict.allowed
    assert len(verdict.message) < 80
    assert "nude" not in verdict.message.lower()
    assert (await FILTER.check("eating otter")).allowed


def test_block_list_file_and_extra_terms(tmp_path: Path) -> None:
    f = tmp_path / "blocked.txt"
    f.write_text("# comment\nwasabi\n\nmarmite\n", encoding="utf-8")
    flt = BlockListFilter.from_config(["durian"], f, builtin=False)
    assert len(flt) == 3
    assert flt.match("W A S A B I otter") == "wasabi"
    assert flt.match("durian") == "durian"
    assert flt.match("nude") is None  # built-in list switched off


def test_builtin_list_is_loaded_by_default() -> None:
    assert len(BlockListFilter.from_config()) >= len(DEFAULT_BLOCK_LIST) - 2


def test_skeleton_maps_lookalikes_and_leetspeak() -> None:
    assert skeleton("ΝυDЕ") == skeleton("nude")
    assert skeleton("@ss") == skeleton("as")
    assert skeleton("h3ll0") == skeleton("hello")


class AllowNothing:
    async def check(self, text: str) -> SafetyVerdict:
        return SafetyVerdict(False, reason="classifier", message="No.")


def test_filter_protocol_is_pluggable() -> None:
    assert isinstance(FILTER, PromptFilter)
    assert isinstance(AllowNothing(), PromptFilter)
    assert_implements(FILTER, PromptFilter)  # same parameters and async, not only the name
    assert_implements(AllowNothing(), PromptFilter)
