"""Dataset discovery and checks: captions, trigger words, alpha compositing, and every bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from generator.training.data import caption_from_filename, load_dataset, parse_color, with_trigger
from generator.training.errors import DatasetError
from tests.studio.conftest import draw_sticker


def test_captions_come_from_file_names_with_the_trigger(make_images: Callable[..., Path]) -> None:
    folder = make_images(3)
    examples = load_dataset(folder, resolution=64, trigger="dm-sticker")
    assert {e.source.name: e.caption for e in examples} == {
        "happy_otter_00.png": "happy otter, dm-sticker",
        "sad_otter_01.png": "sad otter, dm-sticker",
        "eating_otter_02.png": "eating otter, dm-sticker",
    }
    assert all(e.image.size == (64, 64) and e.image.mode == "RGB" for e in examples)


def test_sidecar_captions_win_and_keep_an_existing_trigger(make_images: Callable[..., Path]) -> None:
    folder = make_images(2)
    (folder / "happy_otter_00.txt").write_text("a  waving otter\n", encoding="utf-8")
    (folder / "sad_otter_01.txt").write_text("DM-Sticker, crying otter", encoding="utf-8")
    examples = load_dataset(folder, resolution=64, trigger="dm-sticker")
    assert [e.caption for e in examples] == ["a waving otter, dm-sticker", "DM-Sticker, crying otter"]


def test_transparent_pixels_become_the_style_background(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    draw_sticker(0, (64, 64)).save(folder / "otter.webp", lossless=True)
    (example,) = load_dataset(folder, resolution=64, background=(0, 255, 0))
    assert example.image.getpixel((0, 0)) == (0, 255, 0)  # corner was transparent
    assert example.image.getpixel((32, 32)) != (0, 255, 0)


def test_non_square_images_are_padded_with_the_background_not_cropped(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("RGB", (128, 64), (10, 20, 30)).save(folder / "wide.jpg", quality=95)
    (example,) = load_dataset(folder, resolution=64, background=(255, 255, 255))
    assert example.image.getpixel((32, 2)) == (255, 255, 255)  # padding above
    assert max(abs(a - b) for a, b in zip(example.image.getpixel((32, 32)), (10, 20, 30), strict=True)) < 8


@pytest.mark.parametrize(
    ("stem", "caption"),
    [("happy_otter_03", "happy otter"), ("I-love-you", "I love you"), ("sleepy.otter", "sleepy otter")],
)
def test_caption_from_filename(stem: str, caption: str) -> None:
    assert caption_from_filename(stem) == caption


def test_with_trigger_and_colours() -> None:
    assert with_trigger("", "dm") == "dm"
    assert with_trigger("dmx otter", "dm") == "dmx otter, dm"
    assert parse_color("#00ff80") == (0, 255, 128)
    with pytest.raises(DatasetError):
        parse_color("#12345")


# --------------------------------------------------------------------------- bad input
def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("no images here")
    with pytest.raises(DatasetError, match="No training images"):
        load_dataset(tmp_path, resolution=64)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope", resolution=64)


def test_unreadable_image_is_named(make_images: Callable[..., Path]) -> None:
    folder = make_images(2)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    with pytest.raises(DatasetError, match=r"cannot be read: broken\.png"):
        load_dataset(folder, resolution=64)


def test_too_small_images_are_named(make_images: Callable[..., Path]) -> None:
    folder = make_images(2)
    draw_sticker(1, (20, 40)).save(folder / "tiny.png")
    with pytest.raises(DatasetError, match=r"smaller than 32 px.*tiny\.png \(20x40\)"):
        load_dataset(folder, resolution=64)


def test_caption_without_image(make_images: Callable[..., Path]) -> None:
    folder = make_images(2)
    for image in folder.glob("*.png"):
        image.with_suffix(".txt").write_text("otter")
    (folder / "ghost.txt").write_text("a ghost")
    with pytest.raises(DatasetError, match=r"caption files without an image: ghost\.txt"):
        load_dataset(folder, resolution=64)


def test_image_without_caption_when_others_have_one(make_images: Callable[..., Path]) -> None:
    folder = make_images(3)
    (folder / "happy_otter_00.txt").write_text("otter")
    with pytest.raises(
        DatasetError, match=r"images without a caption file: eating_otter_02\.png, sad_otter_01\.png"
    ):
        load_dataset(folder, resolution=64)


def test_two_images_with_one_name(make_images: Callable[..., Path]) -> None:
    folder = make_images(1)
    draw_sticker(2).save(folder / "happy_otter_00.webp")
    with pytest.raises(DatasetError, match="share a name"):
        load_dataset(folder, resolution=64)


def test_photo_count_limits(make_images: Callable[..., Path]) -> None:
    folder = make_images(2)
    with pytest.raises(DatasetError, match="needs 3 to 10"):
        load_dataset(folder, resolution=64, min_images=3, max_images=10)
