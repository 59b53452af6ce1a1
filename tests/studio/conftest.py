"""Fixtures of the studio tests: generated sticker images and a fresh tiny pipeline per test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from diffusers import StableDiffusionXLPipeline
from PIL import Image, ImageDraw

RESOLUTION = 64
EXPRESSIONS = ("happy", "sad", "eating", "angry")


def draw_sticker(index: int, size: tuple[int, int] = (80, 72), *, alpha: bool = True) -> Image.Image:
    """A blob on a transparent (or white) background; each index a different colour and place."""
    mode, empty = ("RGBA", (0, 0, 0, 0)) if alpha else ("RGB", (255, 255, 255))
    image = Image.new(mode, size, empty)
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.ellipse((w // 8 + index * 3, h // 8, w * 3 // 4, h * 7 // 8), fill=(200, 60 + index * 40, 40, 255))
    draw.rectangle((w // 2, h // 3, w // 2 + 8, h // 3 + 8), fill=(20, 20, 20, 255))
    return image


@pytest.fixture
def make_images(tmp_path: Path) -> Callable[..., Path]:
    """`make_images(n, folder="imgs", size=(80, 72))` writes n sticker PNGs named `<expr>_otter_NN.png`."""

    def make(count: int = 4, folder: str = "imgs", size: tuple[int, int] = (80, 72)) -> Path:
        target = tmp_path / folder
        target.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            draw_sticker(i, size).save(target / f"{EXPRESSIONS[i % len(EXPRESSIONS)]}_otter_{i:02d}.png")
        return target

    return make


@pytest.fixture
def tiny_pipe(tiny_model_dir: Path) -> StableDiffusionXLPipeline:
    """The tiny model loaded through `from_pretrained` (fresh per test: training changes it)."""
    pipe = StableDiffusionXLPipeline.from_pretrained(tiny_model_dir, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe
