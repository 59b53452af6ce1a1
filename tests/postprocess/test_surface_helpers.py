"""The fast helpers of the cut-out give the values of their plain definitions."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from generator.postprocess.background import _core_means
from generator.postprocess.surface import LocalBackground, _enlarge


def _window_mean(rgb: np.ndarray, weight: np.ndarray, y: int, x: int, radius: int) -> tuple[np.ndarray, int]:
    window = (slice(max(y - radius, 0), y + radius + 1), slice(max(x - radius, 0), x + radius + 1))
    chosen = weight[window]
    count = int(chosen.sum())
    total = rgb[window][chosen].astype(np.float64).sum(axis=0)
    return total / max(count, 1), count


@pytest.mark.parametrize("shape", [(16, 16, 16, 256, 256), (5, 7, 16, 70, 100), (3, 3, 8, 24, 17)])
def test_the_surface_enlargement_is_pillows_bilinear_resize(shape) -> None:
    gh, gw, cell, h, w = shape
    grid = np.random.default_rng(gh).random((gh, gw)).astype(np.float32) * 255
    pillow = Image.fromarray(grid, "F").resize((gw * cell, gh * cell), Image.Resampling.BILINEAR)
    expected = np.asarray(pillow, dtype=np.float32)[:h, :w]
    got = _enlarge(_enlarge(grid[None], 1, cell, h), 2, cell, w)[0]
    assert np.abs(got - expected).max() < 1e-3


def test_core_means_are_window_means_of_the_core() -> None:
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    core = rng.random((40, 50)) < 0.4
    ys, xs = np.nonzero(rng.random((40, 50)) < 0.1)
    means, counts = _core_means(rgb, core, ys, xs, 4)
    for i in range(ys.size):
        mean, count = _window_mean(rgb, core, int(ys[i]), int(xs[i]), 4)
        assert counts[i] == count
        assert np.allclose(means[i], mean, atol=1e-3)


def test_local_background_is_the_window_mean_or_the_surface() -> None:
    rng = np.random.default_rng(6)
    pixels = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    background = rng.random((30, 40)) < 0.2
    background[:8, :8] = False  # windows with no background fall back to the surface
    surface = rng.random((3, 30, 40)).astype(np.float32) * 255
    ys, xs = np.mgrid[0:30, 0:40]
    local = LocalBackground.of(pixels, background, surface).at(ys.ravel(), xs.ravel())
    for i, (y, x) in enumerate(zip(ys.ravel(), xs.ravel(), strict=True)):
        mean, count = _window_mean(pixels, background, int(y), int(x), 3)
        expected = mean if count else surface[:, y, x]
        assert np.allclose(local[i], expected, atol=1e-3)
