"""Labelled "generated-looking" scenes: real artwork with alpha over the backgrounds a diffusion model
draws when asked for "…, sticker, white background".

The artwork is Noto Color Emoji (pale characters: ghost, sheep, polar bear, swan, snowman, …) rendered
with Pillow and scaled up; the background is procedural and seeded, so the set is deterministic:
near-white paper with a tint, low-frequency blotches and fine grain, a vignette, a light falloff, and
a soft contact shadow under the character. The true alpha is the artwork's own alpha (the shadow is
background), so a cut-out can be scored with IoU, fringe and how much shadow it kept.
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from generator.postprocess.morphology import dilate

EMOJI_FONT_PATHS = (
    "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",
    "/usr/share/fonts/noto/NotoColorEmoji.ttf",
    "/usr/local/share/fonts/NotoColorEmoji.ttf",
)
EMOJI_BITMAP_SIZE = 109  # the only size Noto Color Emoji's bitmaps come in

# Pale characters and enclosed white objects (🍳's egg white inside the pan, 🐼's white face inside
# its outline), plus 🍩 whose hole is real background.
PALE_SUBJECTS: tuple[str, ...] = (
    "👻",
    "🐑",
    "🐻\u200d❄️",
    "🦢",
    "🐇",
    "☁️",
    "🍚",
    "🥚",
    "🐼",
    "🦙",
    "🍦",
    "⛄",
    "🍳",
    "🍩",
    "🐰",
    "🐔",
)


# Holes drawn in the artwork that are punched through: centre x, y and radii as shares of the glyph.
PUNCHED: dict[str, tuple[float, float, float, float]] = {"🍩": (0.5, 0.47, 0.13, 0.07)}


@dataclass(frozen=True)
class PaleScene:
    name: str
    image: Image.Image  # RGB, what the cut-out sees
    alpha: np.ndarray  # HxW float32 in [0, 1]: the artwork's coverage
    shadow: np.ndarray  # HxW float32 in [0, 1]: how strongly the contact shadow darkens each pixel
    foreground: np.ndarray  # HxWx3 float32: the artwork's own colour (where alpha > 0)


class EmojiFontMissing(RuntimeError):
    """The Noto Color Emoji font is not installed (Debian: fonts-noto-color-emoji)."""


@functools.cache
def emoji_font_path() -> str:
    for candidate in EMOJI_FONT_PATHS:
        if Path(candidate).is_file():
            return candidate
    try:
        found = subprocess.run(
            ["fc-match", "-f", "%{file}", "Noto Color Emoji"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        found = ""
    if found.endswith("NotoColorEmoji.ttf") and Path(found).is_file():
        return found
    raise EmojiFontMissing("Noto Color Emoji is not installed (apt-get install fonts-noto-color-emoji).")


@functools.cache
def _glyph(text: str) -> Image.Image:
    font = ImageFont.truetype(emoji_font_path(), EMOJI_BITMAP_SIZE)
    canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((80, 80), text, font=font, embedded_color=True, anchor="mm")
    box = canvas.getbbox()
    if box is None:
        raise EmojiFontMissing(f"The emoji font has no glyph for {text!r}.")
    glyph = canvas.crop(box)
    if text in PUNCHED:  # make the drawn hole a real one: the background shows through it
        cx, cy, rx, ry = PUNCHED[text]
        big = Image.new("L", (glyph.width * 4, glyph.height * 4), 255)
        ImageDraw.Draw(big).ellipse(
            [
                4 * glyph.width * (cx - rx),
                4 * glyph.height * (cy - ry),
                4 * glyph.width * (cx + rx),
                4 * glyph.height * (cy + ry),
            ],
            fill=0,
        )
        keep = np.asarray(big.reduce(4), dtype=np.float32) / 255.0
        pixels = np.asarray(glyph).copy()
        pixels[..., 3] = np.rint(pixels[..., 3] * keep).astype(np.uint8)
        glyph = Image.fromarray(pixels, "RGBA")
    return glyph


def emoji_artwork(text: str, longer_side: int) -> Image.Image:
    """An emoji as RGBA artwork, scaled so its longer side is `longer_side` px."""
    glyph = _glyph(text)
    scale = longer_side / max(glyph.size)
    size = (max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale)))
    return glyph.resize(size, Image.Resampling.LANCZOS)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Low-frequency noise in about [-1, 1]: a coarse random grid, bicubically enlarged."""
    coarse = rng.normal(0.0, 1.0, (cells, cells)).astype(np.float32)
    image = Image.fromarray(coarse, "F").resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.float32) / 1.5


def paper_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A near-white 'generated' background: tinted paper, blotches, grain, vignette and falloff."""
    level = rng.uniform(240.0, 253.0)
    tint = rng.uniform(-5.0, 5.0, 3)
    tint -= tint.mean()
    warm = rng.uniform(0.0, 1.0) < 0.5
    if warm:  # cream paper: a little less blue
        tint += np.array([2.0, 0.5, -2.5])
    base = np.clip(level + tint, 0.0, 255.0).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    x = (xx + 0.5) / size * 2 - 1
    y = (yy + 0.5) / size * 2 - 1
    blotches = _smooth_noise(rng, size, int(rng.integers(4, 9))) * rng.uniform(1.5, 4.0)
    fine = rng.normal(0.0, 1.0, (size, size)).astype(np.float32)
    grain = 2 * fine + np.roll(fine, 1, 0) + np.roll(fine, 1, 1)  # slightly fibrous, not pixel noise
    grain *= rng.uniform(1.2, 3.0) / max(float(grain.std()), 1e-6)
    vignette = rng.uniform(6.0, 22.0) * np.clip((x * x + y * y) / 2.0, 0.0, 1.0) ** 1.2
    angle = rng.uniform(0.0, 2 * np.pi)
    falloff = rng.uniform(0.0, 14.0) * (np.cos(angle) * x + np.sin(angle) * y + 1.0) / 2.0
    shade = blotches + grain - vignette - falloff
    # Light falloff darkens every channel by the same factor, so the chromaticity stays the paper's.
    return base[None, None, :] * (1.0 + shade / 255.0)[..., None]


def _contact_shadow(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A soft elliptical shadow under the character's feet (strength in [0, 1])."""
    size = alpha.shape[0]
    rows = np.flatnonzero((alpha > 0.5).any(axis=1))
    cols = np.flatnonzero((alpha > 0.5).any(axis=0))
    bottom = int(rows.max())
    low = alpha[max(0, bottom - size // 20) : bottom + 1] > 0.5
    feet = np.flatnonzero(low.any(axis=0))
    centre = float(feet.mean()) if feet.size else float(cols.mean())
    half_width = 0.5 * float(cols.max() - cols.min()) * float(rng.uniform(0.55, 0.85))
    half_height = max(6.0, half_width * rng.uniform(0.10, 0.18))
    offset = rng.uniform(-0.1, 0.1) * half_width
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).ellipse(
        (
            centre + offset - half_width,
            bottom - half_height * 0.9,
            centre + offset + half_width,
            bottom + half_height * 1.1,
        ),
        fill=255,
    )
    blur = mask.filter(ImageFilter.GaussianBlur(float(half_height * rng.uniform(0.6, 1.0))))
    return np.asarray(blur, dtype=np.float32) / 255.0 * rng.uniform(0.18, 0.38)


def pale_scene(text: str, seed: int, size: int = 512) -> PaleScene:
    """One emoji character on a generated-looking background, with its true alpha."""
    rng = np.random.default_rng(seed)
    art = emoji_artwork(text, round(size * rng.uniform(0.58, 0.74)))
    left = int(rng.integers(size // 16, size - art.width - size // 16 + 1))
    top = int(rng.integers(size // 16, size - art.height - size // 10 + 1))
    layer = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    layer.paste(art, (left, top))
    rgba = np.asarray(layer, dtype=np.float32) / 255.0
    alpha = rgba[..., 3]
    foreground = rgba[..., :3] * 255.0

    background = paper_background(rng, size)
    shadow = _contact_shadow(alpha, rng)
    background *= (1.0 - shadow)[..., None]
    pixels = foreground * alpha[..., None] + background * (1.0 - alpha[..., None])
    # A generated image is a little soft and noisy everywhere, not only in the background.
    blurred = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.5))
    pixels = np.asarray(blurred, dtype=np.float32) + rng.normal(0.0, rng.uniform(0.8, 2.0), pixels.shape)
    image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")
    return PaleScene(name=text, image=image, alpha=alpha, shadow=shadow, foreground=foreground)


def pale_scene_set(size: int = 512, seed: int = 18) -> list[PaleScene]:
    """The labelled set: every subject of `PALE_SUBJECTS` once, each with its own background."""
    return [pale_scene(text, seed * 1000 + index, size) for index, text in enumerate(PALE_SUBJECTS)]


# ----------------------------------------------------------------------------------- scoring
def fringe_error(rgba: np.ndarray, scene: PaleScene) -> float:
    """The halo left around the subject: what shows over black where the artwork is not (0-255).

    Mean of alpha x luminance of the cut-out over the 3 px ring just outside the artwork: paper or
    shadow kept around the edge shows as a light or grey rim on a dark chat theme.
    """
    outside = scene.alpha < 0.02
    ring = outside & dilate(scene.alpha > 0.5, 3)
    if not ring.any():
        return 0.0
    alpha = rgba[..., 3].astype(np.float32)[ring] / 255.0
    luma = rgba[..., :3].astype(np.float32)[ring] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return float((alpha * luma).mean())


def shadow_kept(rgba: np.ndarray, scene: PaleScene) -> float:
    """Share of the visible contact shadow (outside the artwork) that the cut-out kept as subject."""
    alpha = rgba[..., 3].astype(np.float32) / 255.0
    visible = (scene.shadow > 0.06) & (scene.alpha < 0.02)
    if not visible.any():
        return 0.0
    return float((alpha[visible] > 0.5).mean())
