"""Synthetic sticker scenes with known ground-truth alpha, for tests and the benchmark.

A cartoon-like subject (outlined body, eyes, a ring with a see-through hole, thin whiskers and
text with an enclosed counter) drawn at 4x and box-reduced, so edges are anti-aliased like real
renders; then optional key-colour spill, Gaussian noise and a JPEG round trip.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

RGB = tuple[int, int, int]
SUPERSAMPLE = 4


@dataclass(frozen=True)
class Scene:
    image: Image.Image  # RGB, what the cutout sees
    alpha: np.ndarray  # HxW float32 in [0, 1], the true coverage of the subject
    background: RGB
    body: RGB


def _layers(size: int, touch_edge: bool, text: bool) -> list[tuple[Image.Image, RGB]]:
    """(mask at 4x, colour) pairs, painted in order; the union of masks is the subject."""
    big = size * SUPERSAMPLE

    def canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
        mask = Image.new("L", (big, big), 0)
        return mask, ImageDraw.Draw(mask)

    def box(*coords: float) -> list[float]:
        return [c * big for c in coords]

    layers: list[tuple[Image.Image, RGB]] = []
    bottom = 1.08 if touch_edge else 0.80
    outline, draw = canvas()
    draw.ellipse(box(0.22, 0.30, 0.72, bottom), fill=255)
    draw.ellipse(box(0.56, 0.12, 0.86, 0.42), fill=255)  # a ring: the hole inside shows the background
    draw.line(box(0.20, 0.50, 0.02, 0.44), fill=255, width=int(1.5 * SUPERSAMPLE))  # whiskers
    draw.line(box(0.20, 0.56, 0.03, 0.60), fill=255, width=int(2.0 * SUPERSAMPLE))
    layers.append((outline, (35, 25, 30)))

    hole, draw = canvas()
    draw.ellipse(box(0.62, 0.18, 0.80, 0.36), fill=255)
    fill, draw = canvas()
    inset = 0.012
    draw.ellipse(box(0.22 + inset, 0.30 + inset, 0.72 - inset, bottom - inset), fill=255)
    layers.append((fill, (232, 128, 52)))
    eyes, draw = canvas()
    for cx in (0.38, 0.54):
        draw.ellipse(box(cx - 0.05, 0.42, cx + 0.05, 0.52), fill=255)
    layers.append((eyes, (236, 232, 226)))
    pupils, draw = canvas()
    for cx in (0.39, 0.55):
        draw.ellipse(box(cx - 0.022, 0.45, cx + 0.022, 0.49), fill=255)
    layers.append((pupils, (20, 20, 40)))
    layers.append((hole, (-1, -1, -1)))  # marker: cut this out of everything above
    if text:
        words, draw = canvas()
        font = ImageFont.load_default(size=int(0.16 * big))
        draw.text((0.06 * big, 0.02 * big), "OK", fill=255, font=font, stroke_width=SUPERSAMPLE)
        layers.append((words, (40, 60, 170)))
    return layers


def sticker_scene(
    size: int = 512,
    background: RGB = (255, 255, 255),
    *,
    seed: int = 0,
    noise: float = 6.0,
    jpeg_quality: int | None = 85,
    spill: float = 0.0,
    touch_edge: bool = False,
    text: bool = True,
) -> Scene:
    """A subject on a flat `background`, with its true alpha.

    `spill` (0-1) tints the subject's outer 3 px toward the background colour, like light from a
    green screen; the true alpha ignores it, and a good cut-out removes it.
    """
    big = size * SUPERSAMPLE
    colour = Image.new("RGB", (big, big), background)
    coverage = Image.new("L", (big, big), 0)
    for mask, rgb in _layers(size, touch_edge, text):
        if rgb[0] < 0:
            colour.paste(background, (0, 0), mask)
            coverage.paste(0, (0, 0), mask)
            continue
        colour.paste(rgb, (0, 0), mask)
        coverage.paste(255, (0, 0), mask)
    image = colour.reduce(SUPERSAMPLE)
    alpha = np.asarray(coverage.reduce(SUPERSAMPLE), dtype=np.float32) / 255.0
    pixels = np.asarray(image, dtype=np.float32)
    if spill > 0:
        inner = coverage.reduce(SUPERSAMPLE).filter(ImageFilter.MinFilter(7))
        rim = (alpha > 0) & (np.asarray(inner) < 128)
        pixels[rim] = pixels[rim] * (1 - spill) + np.asarray(background, dtype=np.float32) * spill
    rng = np.random.default_rng(seed)
    if noise > 0:
        pixels = pixels + rng.normal(0.0, noise, pixels.shape)
    image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")
    if jpeg_quality is not None:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=jpeg_quality)
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return Scene(image=image, alpha=alpha, background=background, body=(232, 128, 52))


def alpha_iou(alpha: np.ndarray, truth: np.ndarray) -> float:
    """Soft intersection over union of two alpha maps in [0, 1]."""
    union = float(np.maximum(alpha, truth).sum())
    return float(np.minimum(alpha, truth).sum()) / union if union else 1.0
