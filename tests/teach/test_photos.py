"""The photo checks: count, type, size, bombs, tiny, blurry and duplicate photos, each with a reason."""

from __future__ import annotations

import pytest

from bot.teaching.errors import TeachError
from bot.teaching.names import clean_name, find_reference
from bot.teaching.photos import Photo, check_photos
from tests.teach.helpers import blurry, dog_photo, dog_photos, png_header_bomb

LIMITS = {"min_count": 4, "max_count": 20, "max_bytes": 10 * 1024 * 1024, "min_side": 256}


def test_four_good_photos_are_accepted() -> None:
    checked = check_photos(dog_photos(4), **LIMITS)
    assert len(checked.accepted) == 4 and not checked.rejected


@pytest.mark.parametrize(("count", "said"), [(0, "got no photos"), (1, "got 1 photo."), (50, "50 photos")])
def test_wrong_counts_are_refused(count: int, said: str) -> None:
    photos = dog_photos(count) if count < 50 else [Photo(f"{i}.jpg", b"x") for i in range(count)]
    with pytest.raises(TeachError, match=said):
        check_photos(photos, **LIMITS)


def test_bad_photos_are_named_with_their_reason() -> None:
    bad = [
        Photo("notes.jpg", b"this is a text file, not a photo\n" * 20),
        Photo("bomb.png", png_header_bomb(30000)),
        Photo("tiny.jpg", dog_photo(9, size=(100, 90))),
        Photo("soft.png", blurry(10)),
        Photo("again.jpg", dog_photo(0)),  # the same as dog_0
        Photo("huge.jpg", b"\xff" * (10 * 1024 * 1024 + 1)),
    ]
    checked = check_photos(dog_photos(4) + bad, **LIMITS)
    assert len(checked.accepted) == 4
    reasons = dict(checked.rejected)
    assert "not an image" in reasons["notes.jpg"]
    assert "too large" in reasons["bomb.png"]
    assert "too small" in reasons["tiny.jpg"]
    assert reasons["soft.png"] == "blurry"
    assert "duplicate" in reasons["again.jpg"]
    assert "over 10 MB" in reasons["huge.jpg"]


def test_too_few_usable_photos_says_which_and_why() -> None:
    photos = [*dog_photos(3), Photo("../../etc/passwd.jpg", b"text")]
    with pytest.raises(TeachError, match=r"Only 3 .* passwd.jpg \(that file is not an image"):
        check_photos(photos, **LIMITS)


@pytest.mark.parametrize("raw", ["../dog", "dog/../../x", "", "a" * 25, "9lives", "all", "dög", "dog\x00"])
def test_unsafe_names_are_refused(raw: str) -> None:
    with pytest.raises(TeachError, match="short name"):
        clean_name(raw)


def test_names_are_normalised_and_found_in_prompts() -> None:
    assert clean_name("  My  Grey-Cat ") == "grey cat"
    ref = find_reference("my grey cat eating pizza", ["cat", "grey cat"])
    assert (
        ref is not None
        and ref.name == "grey cat"
        and ref.without("my grey cat eating pizza") == "eating pizza"
    )
    assert find_reference("@me:dog waving", ["dog"]).name == "dog"  # type: ignore[union-attr]
    assert find_reference("a dog waving", ["dog"]) is None
    unknown = find_reference("@me:rex waving", ["dog"])
    assert unknown is not None and unknown.name == "rex"
