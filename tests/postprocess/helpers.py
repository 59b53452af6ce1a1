"""Checks shared by the post-processing tests: decode what was written and apply the platform rules."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from generator.postprocess import STICKER_MAX_BYTES


def decode_sticker(data: bytes) -> Image.Image:
    """Decode a sticker and assert Telegram's static sticker rules on what was actually written."""
    assert len(data) < STICKER_MAX_BYTES
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "WEBP"
        image.load()
        decoded = image.convert("RGBA") if "A" in image.getbands() else None
    assert decoded is not None, "the sticker has no alpha channel"
    width, height = decoded.size
    assert max(width, height) == 512 and min(width, height) >= 1
    return decoded


def alpha_of(image: Image.Image) -> np.ndarray:
    return np.asarray(image.getchannel("A"), dtype=np.float32) / 255.0
