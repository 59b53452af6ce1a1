"""Crop to the subject, scale the longer side to exactly 512 px, optionally centre on a square."""

from __future__ import annotations

import numpy as np
from PIL import Image

from generator.postprocess.errors import NoSubject

ALPHA_VISIBLE = 8  # alpha at or below this is treated as empty when finding the subject's box


def subject_box(rgba: Image.Image) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of the pixels with visible alpha, or None when there are none."""
    alpha = np.asarray(rgba.getchannel("A"))
    visible = alpha > ALPHA_VISIBLE
    rows = np.flatnonzero(visible.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(visible.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def fit_subject(rgba: Image.Image, *, pad: int, side: int = 512, square: bool = False) -> Image.Image:
    """Crop `rgba` to its subject and place it so the result's longer side is exactly `side`.

    The subject is scaled (aspect ratio kept) so its longer side is `side - 2 * pad`, leaving `pad`
    transparent pixels on each side for the margin, the outline and the shadow. With `square` the
    canvas is `side` x `side` and the subject is centred on it.
    """
    box = subject_box(rgba)
    if box is None:
        raise NoSubject("Nothing is left once the background is removed.")
    pad = max(1, min(pad, side // 4))
    crop = rgba.crop(box)
    inner = side - 2 * pad
    width, height = crop.size
    scale = inner / max(width, height)
    if width >= height:
        new_size = (inner, max(1, round(height * scale)))
    else:
        new_size = (max(1, round(width * scale)), inner)
    if new_size != crop.size:
        resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC
        crop = crop.resize(new_size, resample)  # Pillow premultiplies RGBA while resampling
    canvas_size = (side, side) if square else (new_size[0] + 2 * pad, new_size[1] + 2 * pad)
    canvas = Image.new("RGBA", canvas_size, (0, 0, 0, 0))
    canvas.paste(crop, ((canvas_size[0] - new_size[0]) // 2, (canvas_size[1] - new_size[1]) // 2))
    return canvas
