"""Model-free background removal against synthetic scenes with known alpha."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from generator.postprocess import StickerOptions, cut, cutout
from generator.postprocess.background import estimate_background
from generator.postprocess.synthetic import alpha_iou, sticker_scene
from tests.postprocess.helpers import alpha_of

NO_OUTLINE = StickerOptions(outline=0)


@pytest.mark.parametrize(
    ("background", "kwargs"),
    [
        ((255, 255, 255), {}),
        ((0, 255, 0), {"spill": 0.2}),
        ((250, 220, 235), {}),  # a pastel colour a style may declare
        ((90, 160, 220), {}),  # a mid-tone sky blue
        ((255, 255, 255), {"touch_edge": True}),
        ((0, 255, 0), {"noise": 16.0, "jpeg_quality": 70}),
        ((0, 0, 255), {"size": 900}),
    ],
)
def test_alpha_matches_ground_truth(background, kwargs) -> None:
    scene = sticker_scene(background=background, **kwargs)
    alpha = alpha_of(cutout(scene.image, NO_OUTLINE))
    assert alpha.shape == scene.alpha.shape
    assert alpha_iou(alpha, scene.alpha) >= 0.97


def test_given_background_colour_is_a_hint() -> None:
    scene = sticker_scene(background=(20, 235, 30))
    hinted = cut(scene.image, StickerOptions(background=(0, 255, 0)))
    assert hinted.background is not None
    assert np.allclose(hinted.background.color, (20, 235, 30), atol=6)
    wrong = cut(scene.image, StickerOptions(background=(255, 255, 255)))  # the border is green, not white
    assert np.allclose(wrong.background.color, (20, 235, 30), atol=6)
    assert alpha_iou(alpha_of(wrong.image), scene.alpha) >= 0.97


def test_border_estimate_survives_noise_and_a_subject_on_one_edge() -> None:
    rng = np.random.default_rng(1)
    pixels = np.clip(rng.normal((0, 250, 10), 12, (300, 300, 3)), 0, 255).astype(np.uint8)
    pixels[200:, :] = (200, 40, 60)  # the subject covers the whole bottom edge and a third of both sides
    estimate = estimate_background(pixels, tolerance=40)
    assert np.allclose(estimate.color, (0, 250, 10), atol=4)
    assert 0.5 < estimate.coverage < 0.8


def _edge_pixels(alpha: np.ndarray) -> np.ndarray:
    """Partly transparent pixels and opaque ones next to transparency (the fringe)."""
    visible = alpha > 0.05
    transparent = alpha < 0.5
    near_transparent = np.zeros_like(transparent)
    for dy in range(-3, 4):
        for dx in range(-3, 4):
            near_transparent |= np.roll(np.roll(transparent, dy, 0), dx, 1)
    return visible & near_transparent


def test_no_green_fringe_after_a_green_screen() -> None:
    scene = sticker_scene(background=(0, 255, 0), spill=0.35)
    rgba = np.asarray(cutout(scene.image, NO_OUTLINE), dtype=np.float32)
    edge = _edge_pixels(rgba[..., 3] / 255)
    r, g, b = rgba[edge, 0], rgba[edge, 1], rgba[edge, 2]
    green_lean = g - (r + b) / 2
    source = np.asarray(scene.image, dtype=np.float32)[edge]
    assert np.percentile(source[:, 1] - (source[:, 0] + source[:, 2]) / 2, 90) > 60  # the input has a fringe
    assert np.percentile(green_lean, 99) <= 12


def test_no_light_halo_after_a_white_background() -> None:
    scene = sticker_scene(background=(255, 255, 255), text=False)
    rgba = np.asarray(cutout(scene.image, NO_OUTLINE), dtype=np.float32)
    alpha = rgba[..., 3] / 255
    soft = (alpha > 0.05) & (alpha < 0.95)
    assert soft.sum() > 200  # anti-aliased, not a hard binary edge
    # The subject's rim is a dark stroke: semi-transparent pixels must carry its colour, not white.
    assert np.median(rgba[soft, :3].mean(axis=1)) < 90


def test_enclosed_background_is_transparent_but_near_key_subject_pixels_stay() -> None:
    scene = sticker_scene(background=(255, 255, 255))
    alpha = alpha_of(cutout(scene.image, NO_OUTLINE))
    size = scene.alpha.shape[0]
    ring_hole = (int(0.27 * size), int(0.71 * size))  # inside the ring: background shows through
    eye_white = (int(0.47 * size), int(0.34 * size))  # (236,232,226) on white: subject, not background
    assert scene.alpha[ring_hole] == 0 and alpha[ring_hole] < 0.05
    assert scene.alpha[eye_white] == 1 and alpha[eye_white] > 0.95


def test_holes_can_be_kept() -> None:
    scene = sticker_scene(background=(255, 255, 255))
    alpha = alpha_of(cutout(scene.image, StickerOptions(outline=0, holes=False)))
    size = scene.alpha.shape[0]
    assert alpha[int(0.27 * size), int(0.71 * size)] > 0.95


def test_small_subject_pixels_near_the_key_colour_are_not_holes() -> None:
    image = Image.new("RGB", (256, 256), (255, 255, 255))
    pixels = np.asarray(image).copy()
    pixels[60:200, 60:200] = (30, 30, 30)
    pixels[100:103, 100:103] = (255, 255, 255)  # a 3x3 highlight of exactly the key colour
    pixels[130:160, 130:160] = (232, 232, 232)  # a large light-grey patch: near the key, not the key
    alpha = alpha_of(cutout(Image.fromarray(pixels), NO_OUTLINE))
    assert alpha[101, 101] == 1.0
    assert alpha[145, 145] == 1.0


def test_thin_lines_survive() -> None:
    scene = sticker_scene(background=(255, 255, 255))
    alpha = alpha_of(cutout(scene.image, NO_OUTLINE))
    size = scene.alpha.shape[0]
    whisker = (scene.alpha > 0.5) & (np.arange(size)[None, :] < int(0.18 * size))
    whisker[: int(0.3 * size)] = False  # below the text
    assert whisker.sum() > 50
    assert (alpha[whisker] > 0.5).mean() > 0.9


def test_noise_specks_in_the_background_are_dropped() -> None:
    rng = np.random.default_rng(5)
    pixels = np.full((256, 256, 3), 255, dtype=np.uint8)
    pixels[80:180, 80:180] = (200, 60, 40)
    ys, xs = rng.integers(0, 60, 40), rng.integers(0, 256, 40)
    pixels[ys, xs] = (205, 200, 200)  # single stray pixels, a little off the key colour
    alpha = alpha_of(cutout(Image.fromarray(pixels), NO_OUTLINE))
    assert alpha[:70].max() < 0.3


@pytest.mark.parametrize(("kind", "amplitude"), [("linear", 25), ("vignette", 60)])
def test_background_with_a_lighting_gradient(kind: str, amplitude: float) -> None:
    scene = sticker_scene(background=(255, 255, 255), noise=4.0)
    yy, xx = np.mgrid[0:512, 0:512].astype(np.float32)
    if kind == "linear":
        shade = yy / 511 * amplitude
    else:
        shade = ((yy - 256) ** 2 + (xx - 256) ** 2) / (2 * 256**2) * amplitude
    pixels = np.asarray(scene.image, dtype=np.float32) - (shade * (1 - scene.alpha))[..., None]
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    matte = cut(image, NO_OUTLINE)
    assert matte.background is not None and matte.background.gradient is not None
    assert alpha_iou(alpha_of(matte.image), scene.alpha) >= 0.97


def test_small_counters_of_text_on_a_green_screen_are_transparent(png_bytes) -> None:
    image = Image.new("RGB", (512, 512), (0, 255, 0))
    draw = ImageDraw.Draw(image)
    draw.text((40, 200), "good morning, abdeopq", fill=(30, 30, 120), font=ImageFont.load_default(size=28))
    draw.text((40, 250), "ABDO 0689 &", fill=(200, 30, 30), font=ImageFont.load_default(size=40))
    jpeg = Image.open(io.BytesIO(png_bytes(image, "JPEG", quality=80)))
    rgba = np.asarray(cutout(jpeg, NO_OUTLINE), dtype=np.float32)
    green = (rgba[..., 1] - (rgba[..., 0] + rgba[..., 2]) / 2 > 60) & (rgba[..., 3] > 128)
    assert green.sum() <= 3  # no visible key colour left inside letters


def test_a_yellow_subject_on_a_green_screen_keeps_its_colour_at_the_edge() -> None:
    big = Image.new("RGB", (2048, 2048), (0, 255, 0))
    ImageDraw.Draw(big).ellipse((300, 300, 1700, 1700), fill=(255, 220, 0))
    rgba = np.asarray(cutout(big.reduce(4), NO_OUTLINE), dtype=np.float32)
    edge = _edge_pixels(rgba[..., 3] / 255) & (rgba[..., 3] > 128)
    assert edge.sum() > 500
    assert np.abs(rgba[edge, :3] - (255, 220, 0)).max(axis=1).mean() < 12  # yellow, not orange
