"""Layout (crop, 512 rule, square) and effects (outline width, shadow)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from generator.postprocess import StickerOptions, finish_rgba
from generator.postprocess.effects import add_outline, add_shadow
from generator.postprocess.layout import fit_subject


def _shape(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse(box, fill=(200, 50, 50, 255))
    return image


@pytest.mark.parametrize(
    ("size", "box", "square", "expected"),
    [
        ((800, 600), (100, 200, 700, 400), False, (512, None)),  # wide subject: width is 512
        ((300, 900), (100, 50, 200, 850), False, (None, 512)),  # tall subject: height is 512
        ((64, 64), (10, 20, 50, 40), False, (512, None)),  # small input is scaled up
        ((800, 600), (100, 200, 700, 400), True, (512, 512)),
    ],
)
def test_longer_side_is_exactly_512(size, box, square, expected) -> None:
    out = fit_subject(_shape(size, box), pad=10, square=square)
    width, height = out.size
    assert max(width, height) == 512 and min(width, height) <= 512
    if expected[0]:
        assert width == expected[0]
    if expected[1]:
        assert height == expected[1]
    alpha = np.asarray(out.getchannel("A"))
    assert alpha[:10].max() == 0 and alpha[:, :10].max() == 0  # the padding stays transparent


def test_layout_crops_to_the_subject_and_keeps_the_aspect_ratio() -> None:
    out = fit_subject(_shape((1000, 1000), (100, 400, 500, 600)), pad=6)  # a 2:1 ellipse
    assert out.size[0] == 512
    assert abs((out.size[1] - 12) / (out.size[0] - 12) - 0.5) < 0.02


def _ring_radius(alpha: np.ndarray, row: int, start: int) -> int:
    """Index of the last pixel with alpha >= 128 going right from `start` along `row`."""
    values = alpha[row, start:]
    return start + int(np.flatnonzero(values >= 128)[-1])


@pytest.mark.parametrize("width", [1, 4, 8, 16])
def test_outline_has_the_requested_width(width: int) -> None:
    image = _shape((512, 512), (156, 156, 356, 356))  # disc of radius 100 around (256, 256)
    before = _ring_radius(np.asarray(image.getchannel("A")), 256, 256)
    outlined = add_outline(image, width)
    alpha = np.asarray(outlined.getchannel("A"))
    after = _ring_radius(alpha, 256, 256)
    assert abs((after - before) - width) <= 1
    diagonal = int(256 + (100 + width - 1.5) / np.sqrt(2))
    assert alpha[diagonal, diagonal] >= 128  # round, not a square dilation clipped at the diagonal
    rgb = np.asarray(outlined)[256, before + 2 : after - 1, :3] if width >= 4 else None
    if rgb is not None:
        assert (rgb >= 250).all()  # white


def test_outline_has_no_gaps_along_thin_parts() -> None:
    image = Image.new("RGBA", (512, 512), (0, 0, 0, 0))
    ImageDraw.Draw(image).line((60, 100, 450, 300), fill=(0, 0, 0, 255), width=1)
    alpha = np.asarray(add_outline(image, 6).getchannel("A"))
    for x in range(80, 430, 7):
        y = round(100 + (x - 60) * 200 / 390)
        assert alpha[y - 4 : y + 5, x].min() == 255


def test_outline_edge_is_anti_aliased() -> None:
    alpha = np.asarray(add_outline(_shape((512, 512), (156, 156, 356, 356)), 8).getchannel("A"))
    assert ((alpha > 0) & (alpha < 255)).sum() > 300


def test_no_outline_adds_nothing() -> None:
    image = _shape((512, 512), (156, 156, 356, 356))
    assert add_outline(image, 0) is image


def test_shadow_is_soft_offset_and_under_the_subject() -> None:
    image = _shape((512, 512), (156, 156, 356, 356))
    shadowed = np.asarray(add_shadow(image))
    alpha = shadowed[..., 3]
    assert alpha[256, 256] == 255 and tuple(shadowed[256, 256, :3]) == (200, 50, 50)
    below, above = alpha[362, 256], alpha[150, 256]
    assert 0 < below < 200 and below > above  # offset down, semi-transparent, soft
    assert (shadowed[362, 256, :3] < 40).all()  # dark


def test_finish_leaves_room_for_outline_and_shadow() -> None:
    cut = _shape((600, 600), (0, 0, 600, 600))
    finished = finish_rgba(cut, StickerOptions(outline=12, shadow=True))
    alpha = np.asarray(finished.getchannel("A"))
    assert finished.size == (512, 512)
    assert alpha[0].max() == 0 and alpha[-1].max() == 0 and alpha[:, 0].max() == 0 and alpha[:, -1].max() == 0
