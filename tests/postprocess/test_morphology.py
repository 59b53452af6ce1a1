from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from generator.postprocess.morphology import (
    RunComponents,
    border_mask,
    dilate,
    distance_to,
    erode,
    reconstruct,
)


def _bfs(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    h, w = mask.shape
    out = np.zeros_like(mask)
    queue = deque()
    for y, x in zip(*np.nonzero(seeds & mask), strict=True):
        out[y, x] = True
        queue.append((y, x))
    while queue:
        y, x = queue.popleft()
        for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            a, b = y + dy, x + dx
            if 0 <= a < h and 0 <= b < w and mask[a, b] and not out[a, b]:
                out[a, b] = True
                queue.append((a, b))
    return out


@pytest.mark.parametrize("density", [0.45, 0.55, 0.6, 0.7])
def test_reconstruct_matches_breadth_first_fill(density: float) -> None:
    rng = np.random.default_rng(int(density * 100))
    mask = rng.random((70, 90)) < density
    seeds = border_mask(mask.shape)
    assert np.array_equal(reconstruct(mask, seeds), _bfs(mask, seeds))


def test_reconstruct_follows_a_spiral() -> None:
    size = 41
    wall = np.zeros((size, size), dtype=bool)
    for i in range(0, size // 2, 2):  # concentric square walls with one gap each: a long winding path
        wall[i, i : size - i] = wall[size - 1 - i, i : size - i] = True
        wall[i : size - i, i] = wall[i : size - i, size - 1 - i] = True
        wall[i, i + 1 if i % 4 == 0 else size - 2 - i] = False
    free = ~wall
    seeds = np.zeros_like(free)
    seeds[size // 2, size // 2] = True
    assert np.array_equal(reconstruct(free, seeds), _bfs(free, seeds))


def test_reconstruct_without_seeds_is_empty() -> None:
    mask = np.ones((5, 5), dtype=bool)
    assert not reconstruct(mask, np.zeros_like(mask)).any()


def test_distance_is_euclidean_up_to_the_limit() -> None:
    rng = np.random.default_rng(3)
    mask = rng.random((40, 50)) < 0.01
    mask[20, 25] = True
    limit = 6
    got = distance_to(mask, limit)
    ys, xs = np.nonzero(mask)
    yy, xx = np.mgrid[0:40, 0:50]
    exact = np.min(np.hypot(yy[..., None] - ys, xx[..., None] - xs), axis=2)
    near = exact <= limit
    assert np.allclose(got[near], exact[near], atol=1e-4)
    assert (got[~near] > limit).all()


def test_dilate_and_erode_are_square() -> None:
    mask = np.zeros((11, 11), dtype=bool)
    mask[5, 5] = True
    assert dilate(mask, 2).sum() == 25
    assert erode(dilate(mask, 2), 2).sum() == 1


def test_run_components_sizes_and_roots_match_breadth_first_fill() -> None:
    rng = np.random.default_rng(11)
    mask = rng.random((60, 80)) < 0.55
    regions = RunComponents(mask)
    sizes = regions.sizes()
    ys, xs = np.nonzero(mask)
    for y, x in zip(ys[::97], xs[::97], strict=True):
        point = np.zeros_like(mask)
        point[y, x] = True
        component = _bfs(mask, point)
        (root,) = regions.roots_at(point)
        assert sizes[root] == component.sum()
        assert np.array_equal(regions.select(np.array([root])), component)
