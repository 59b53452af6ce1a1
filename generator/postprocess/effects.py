"""Sticker effects on a laid-out RGBA image: a white outline that follows the alpha contour and a
soft drop shadow."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from generator.postprocess.morphology import distance_to
from generator.postprocess.options import RGB

SHADOW_OFFSET = (3, 5)  # px right, down
SHADOW_BLUR = 5.0  # Gaussian radius in px
SHADOW_OPACITY = 0.45


def shadow_extent() -> int:
    """How far (px) the shadow can reach beyond the subject, for the layout's padding."""
    return max(SHADOW_OFFSET) + int(np.ceil(2.5 * SHADOW_BLUR))


def outline_alpha(alpha: np.ndarray, width: int) -> np.ndarray:
    """uint8 alpha of a solid outline `width` px wide around a uint8 alpha mask (subject included).

    Uses the exact Euclidean distance to the subject (alpha >= 50%), so the outline has round
    corners, stays whole across thin parts, and gets a one-pixel anti-aliased rim.
    """
    solid = alpha >= 128
    distance = distance_to(solid, width + 1)
    ring = np.clip(width + 0.5 - distance, 0.0, 1.0)
    ring8 = np.rint(ring * 255.0).astype(np.uint8)
    return np.maximum(ring8, alpha)


def add_outline(rgba: Image.Image, width: int, colour: RGB = (255, 255, 255)) -> Image.Image:
    """Put the subject on a `colour` outline `width` px wide that follows its alpha contour."""
    if width <= 0:
        return rgba
    alpha = np.asarray(rgba.getchannel("A"))
    ring = Image.fromarray(outline_alpha(alpha, width), "L")
    layer = Image.new("RGBA", rgba.size, (*colour, 0))
    layer.putalpha(ring)
    return Image.alpha_composite(layer, rgba)


def add_shadow(rgba: Image.Image) -> Image.Image:
    """Put a soft, slightly offset black shadow under the sticker."""
    alpha = rgba.getchannel("A")
    mask = Image.new("L", alpha.size, 0)
    mask.paste(alpha, SHADOW_OFFSET)
    soft = mask.filter(ImageFilter.GaussianBlur(SHADOW_BLUR))
    soft = soft.point(lambda v: round(v * SHADOW_OPACITY))
    layer = Image.new("RGBA", rgba.size, (0, 0, 0, 0))
    layer.putalpha(soft)
    return Image.alpha_composite(layer, rgba)
