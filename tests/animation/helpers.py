"""Measures shared by the animation tests (and the benchmark's sanity checks)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageFilter


def alphas(frames: Sequence[Image.Image] | Sequence[np.ndarray]) -> np.ndarray:
    """N x H x W float alpha in [0, 1]."""
    stack = [
        np.asarray(f)[..., 3] if not isinstance(f, Image.Image) else np.asarray(f.getchannel("A"))
        for f in frames
    ]
    return np.stack(stack).astype(np.float32) / 255.0


def edge_band(alpha: np.ndarray, radius: int = 2) -> np.ndarray:
    """Pixels within `radius` of the 50% contour of one H x W alpha map."""
    solid = Image.fromarray(((alpha >= 0.5) * 255).astype(np.uint8), "L")
    grown = np.asarray(solid.filter(ImageFilter.MaxFilter(2 * radius + 1))) > 0
    shrunk = np.asarray(solid.filter(ImageFilter.MinFilter(2 * radius + 1))) > 0
    return grown & ~shrunk


def pair_edge_change(a: np.ndarray, i: int, j: int) -> float:
    """Mean |alpha_j - alpha_i| over the edge bands of both frames."""
    band = edge_band(a[i]) | edge_band(a[j])
    return float(np.abs(a[j] - a[i])[band].mean())


def loop_changes(a: np.ndarray) -> tuple[list[float], float]:
    """Edge change of each consecutive pair (0→1 … n-2→n-1) and of the loop seam (n-1→0)."""
    n = len(a)
    inner = [pair_edge_change(a, i, i + 1) for i in range(n - 1)]
    return inner, pair_edge_change(a, n - 1, 0)
