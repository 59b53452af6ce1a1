"""Fixtures for animation tests: a finished sticker (cut out, outlined) and a moving synthetic sprite."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from generator.postprocess import StickerOptions, cutout, finish_rgba
from generator.postprocess.synthetic import sticker_scene


@pytest.fixture(scope="session")
def finished_sticker() -> Image.Image:
    """A realistic finished static sticker: the synthetic scene cut out, laid out (512 px) and outlined."""
    scene = sticker_scene(512, (255, 255, 255), seed=3)
    options = StickerOptions(outline=8)
    return finish_rgba(cutout(scene.image, options), options)


def moving_sprite_frames(
    count: int = 12,
    size: int = 256,
    background: tuple[int, int, int] = (40, 200, 60),
    seed: int = 0,
    radius_px: float = 1.5,
    noise: float = 4.0,
) -> tuple[list[Image.Image], np.ndarray]:
    """RGB frames of a disc + box sprite circling by sub-pixel steps (a closed loop) on a noisy flat
    background, and the true alpha of each frame (N x H x W float in [0, 1])."""
    scale = 4
    rng = np.random.default_rng(seed)
    frames, truths = [], []
    for i in range(count):
        phase = 2 * np.pi * i / count
        cx = size / 2 + radius_px * np.cos(phase)
        cy = size / 2 + radius_px * np.sin(phase)
        mask = Image.new("L", (size * scale, size * scale), 0)
        draw = ImageDraw.Draw(mask)
        r = size * 0.25
        draw.ellipse([(cx - r) * scale, (cy - r) * scale, (cx + r) * scale, (cy + r) * scale], fill=255)
        draw.rectangle(
            [(cx - 8) * scale, (cy - r - 20) * scale, (cx + 8) * scale, (cy - r + 4) * scale], fill=255
        )
        colour = Image.new("RGB", mask.size, background)
        colour.paste((220, 120, 40), (0, 0), mask)
        small = np.asarray(colour.reduce(scale), dtype=np.float32)
        noisy = np.clip(small + rng.normal(0, noise, small.shape), 0, 255).astype(np.uint8)
        frames.append(Image.fromarray(noisy, "RGB"))
        truths.append(np.asarray(mask.reduce(scale), dtype=np.float32) / 255.0)
    return frames, np.stack(truths)
