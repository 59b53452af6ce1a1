"""One subject visible in most photos: blank photos and photos of something else are refused by name;
varied photos of one subject (poses, sizes, rooms, light) pass."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.teaching.errors import TeachError
from bot.teaching.photos import Photo, check_photos
from bot.teaching.subject_check import check_one_subject, signature
from tests.teach.helpers import dog_photos
from tests.teach.scenes import blank_photo, subject_photo

LIMITS = {"min_count": 4, "max_count": 20, "max_bytes": 10 * 1024 * 1024, "min_side": 256}


def corgis(seeds: range) -> list[Photo]:
    return [Photo(f"corgi_{i}.jpg", subject_photo("corgi", i)) for i in seeds]


def image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


@pytest.mark.parametrize("seeds", [range(0, 6), range(6, 14), range(14, 18), range(18, 30)])
def test_varied_photos_of_one_subject_pass(seeds: range) -> None:
    """Different rooms, floors, furniture, exposure, colour temperature, pose, size and place."""
    checked = check_photos(corgis(seeds), **LIMITS)
    assert not checked.rejected and len(checked.accepted) == len(seeds)


def test_photos_of_nothing_are_refused_by_name() -> None:
    blanks = [Photo(f"{kind}.jpg", blank_photo(kind, 1)) for kind in ("wall", "sky", "carpet")]
    checked = check_photos(corgis(range(4)) + blanks, **LIMITS)
    assert len(checked.accepted) == 4
    assert dict(checked.rejected) == {
        name: "nothing in it stands out" for name in ("wall.jpg", "sky.jpg", "carpet.jpg")
    }


@pytest.mark.parametrize("kind", ["parrot", "car"])
def test_a_photo_of_something_else_is_refused_by_name(kind: str) -> None:
    other = Photo(f"{kind}.jpg", subject_photo(kind, 0))
    checked = check_photos([*corgis(range(5)), other], **LIMITS)
    assert dict(checked.rejected) == {f"{kind}.jpg": "shows something else than the other photos"}
    assert len(checked.accepted) == 5


def test_a_set_without_a_majority_is_refused_as_a_whole() -> None:
    mixed = [
        *corgis(range(2)),
        *(Photo(f"parrot_{i}.jpg", subject_photo("parrot", i)) for i in range(2)),
        *(Photo(f"car_{i}.jpg", subject_photo("car", i)) for i in range(2)),
    ]
    with pytest.raises(TeachError, match="don't look like one subject: fewer than half"):
        check_photos(mixed, **LIMITS)


def test_refusals_that_leave_too_few_say_which_and_why() -> None:
    photos = [*corgis(range(3)), Photo("sky.jpg", blank_photo("sky", 2))]
    with pytest.raises(TeachError, match=r"Only 3 .* sky.jpg \(nothing in it stands out\)"):
        check_photos(photos, **LIMITS)


def test_the_check_can_be_turned_off() -> None:
    photos = [*corgis(range(4)), Photo("wall.jpg", blank_photo("wall", 3))]
    assert len(check_photos(photos, **LIMITS, one_subject=False).accepted) == 5


def test_the_other_teach_test_photos_pass() -> None:
    """The photos every other teach test uses (a blob on random noise) are one subject too."""
    assert not check_photos(dog_photos(8), **LIMITS).rejected


def test_a_few_photos_are_not_judged_by_majority() -> None:
    two = [image(subject_photo("corgi", 0)), image(subject_photo("car", 0))]
    assert check_one_subject(two, ["a", "b"]) == []


def test_large_photos_are_analysed_small() -> None:
    big = image(subject_photo("corgi", 3, size=(2048, 1536)))
    small = image(subject_photo("corgi", 3))
    assert abs(signature(big).salience - signature(small).salience) < 3.0
