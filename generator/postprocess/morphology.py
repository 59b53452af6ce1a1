"""Vectorised binary morphology on numpy masks (no scipy): reconstruction, dilation, distances.

Everything here works on 2-D boolean or small-integer arrays and costs a fixed number of whole-array
numpy operations, so a 512x512 mask takes a few milliseconds at most.
"""

from __future__ import annotations

import numpy as np


def _shift_or(mask: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """OR of `mask` shifted by -radius..radius along one axis (a 1-D box dilation)."""
    out = mask.copy()
    n = mask.shape[axis]
    for step in range(1, min(radius, n - 1) + 1):
        if axis == 0:
            out[step:] |= mask[:-step]
            out[:-step] |= mask[step:]
        else:
            out[:, step:] |= mask[:, :-step]
            out[:, :-step] |= mask[:, step:]
    return out


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Dilate a boolean mask by a (2r+1)x(2r+1) square."""
    if radius <= 0:
        return mask.copy()
    return _shift_or(_shift_or(mask, radius, 0), radius, 1)


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Erode a boolean mask by a (2r+1)x(2r+1) square; pixels outside the image count as set."""
    if radius <= 0:
        return mask.copy()
    return ~dilate(~mask, radius)


def block_corners(mask: np.ndarray, size: int) -> np.ndarray:
    """True at the top-left pixel of every size x size block that is entirely True in `mask`."""
    out = mask.copy()
    for step in range(1, size):
        out[:, :-step] &= mask[:, step:]
        out[:, -step:] = False
    rows = out.copy()
    for step in range(1, size):
        out[:-step] &= rows[step:]
        out[-step:] = False
    return out


class RunComponents:
    """4-connected components of a mask, found on its row runs (union-find in a few numpy passes).

    A run is a maximal stretch of set pixels in one row; runs in neighbouring rows that overlap are
    joined. Components are found on the run graph (each root hooked to the smaller, then pointer
    jumping), so the cost is a few whole-image passes plus work per run, whatever the paths' shapes.
    Runs are kept as flat start/end indices: no per-pixel label image is built.
    """

    def __init__(self, mask: np.ndarray) -> None:
        mask = np.asarray(mask, dtype=bool)
        w = mask.shape[1]
        self.mask = mask
        starts = mask.copy()
        starts[:, 1:] &= ~mask[:, :-1]
        ends = mask.copy()
        ends[:, :-1] &= ~mask[:, 1:]
        self.starts = np.flatnonzero(starts)
        self.ends = np.flatnonzero(ends) + 1
        self.count = self.starts.size
        # Edges: where a pixel and the one above are both set and one of the two starts a run there
        # (along an overlap the pair of runs only changes where a run starts).
        joined = mask[1:] & mask[:-1]
        joined &= starts[1:] | starts[:-1]
        below = np.flatnonzero(joined) + w
        self.root = _union(self.count, self._run_of(below), self._run_of(below - w))

    def _run_of(self, flat_indices: np.ndarray) -> np.ndarray:
        """The run holding each given (set) pixel."""
        return np.searchsorted(self.starts, flat_indices, side="right") - 1

    def sizes(self) -> np.ndarray:
        """Pixel count of each component, indexed by its root run."""
        return np.bincount(self.root, weights=self.ends - self.starts, minlength=self.count).astype(np.int64)

    def roots_at(self, points: np.ndarray) -> np.ndarray:
        """The root run of the component at each set pixel of `points` (row-major order)."""
        return self.root[self._run_of(np.flatnonzero(points & self.mask))]

    def select(self, roots: np.ndarray) -> np.ndarray:
        """The pixels of the components with the given roots (HxW bool)."""
        chosen = np.zeros(self.count, dtype=bool)
        chosen[roots] = True
        return self._paint(chosen[self.root])

    def seeded(self, seeds: np.ndarray) -> np.ndarray:
        """The components that hold a seed (HxW bool)."""
        if self.count == 0:
            return np.zeros(self.mask.shape, dtype=bool)
        # Each reduceat segment is one run plus the gap after it, which holds no (masked) seed.
        hit = np.logical_or.reduceat((seeds & self.mask).ravel(), self.starts)
        chosen = np.zeros(self.count, dtype=bool)
        chosen[self.root[hit]] = True
        return self._paint(chosen[self.root])

    def _paint(self, run_values: np.ndarray) -> np.ndarray:
        """An HxW mask that is `run_values[i]` on run i and False between runs."""
        n = self.count
        bounds = np.empty(2 * n + 2, dtype=np.int64)
        bounds[0], bounds[-1] = 0, self.mask.size
        bounds[1:-1:2], bounds[2:-1:2] = self.starts, self.ends
        values = np.zeros(2 * n + 1, dtype=bool)
        values[1::2] = run_values
        return np.repeat(values, np.diff(bounds)).reshape(self.mask.shape)


def _union(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The root (smallest run id) of every run's component, given the edges (a, b)."""
    parent = np.arange(n, dtype=np.int64)
    while a.size:
        pa, pb = parent[a], parent[b]
        apart = pa != pb
        if not apart.any():
            break
        a, b, pa, pb = a[apart], b[apart], pa[apart], pb[apart]
        np.minimum.at(parent, np.maximum(pa, pb), np.minimum(pa, pb))
        while True:  # pointer jumping: every run points at its root again
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return parent


def reconstruct(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The 4-connected components of `mask` that contain a seed (morphological reconstruction)."""
    mask = np.asarray(mask, dtype=bool)
    reached = np.asarray(seeds, dtype=bool) & mask
    if not reached.any():
        return reached
    return RunComponents(mask).seeded(reached)


def border_mask(shape: tuple[int, int], width: int = 1) -> np.ndarray:
    """True on the outer `width` pixels of an image of `shape`."""
    out = np.zeros(shape, dtype=bool)
    w = max(1, width)
    out[:w, :] = True
    out[-w:, :] = True
    out[:, :w] = True
    out[:, -w:] = True
    return out


def distance_to(mask: np.ndarray, limit: int) -> np.ndarray:
    """Euclidean distance (float32) from each pixel to the nearest True pixel of `mask`.

    Exact up to `limit`; farther pixels get `limit + 1`. Separable min-plus passes over a window
    of +-limit, so the cost grows with `limit`, not with the image content.
    """
    limit = max(1, int(limit))
    big = (limit + 1) ** 2
    # Squared distances stay below 2 * big, so int16 holds them up to limit 126 (and is faster).
    dtype = np.int16 if 2 * big < np.iinfo(np.int16).max else np.int32
    cost = np.where(mask, 0, big).astype(dtype)
    cols = _min_plus(cost, limit, axis=0, big=big)
    both = _min_plus(cols, limit, axis=1, big=big)
    return np.sqrt(both.astype(np.float32))


def _min_plus(cost: np.ndarray, limit: int, axis: int, big: int) -> np.ndarray:
    out = cost.copy()
    n = cost.shape[axis]
    for step in range(1, min(limit, n - 1) + 1):
        add = step * step
        if axis == 0:
            np.minimum(out[step:], cost[:-step] + add, out=out[step:])
            np.minimum(out[:-step], cost[step:] + add, out=out[:-step])
        else:
            np.minimum(out[:, step:], cost[:, :-step] + add, out=out[:, step:])
            np.minimum(out[:, :-step], cost[:, step:] + add, out=out[:, :-step])
    np.minimum(out, big, out=out)
    return out


def box_sum(a: np.ndarray, radius: int) -> np.ndarray:
    """Sum of `a` over each (2r+1)^2 window along its first two axes (windows clipped at the edges)."""
    out = a.copy()
    for step in range(1, radius + 1):
        out[step:] += a[:-step]
        out[:-step] += a[step:]
    rows = out.copy()
    for step in range(1, radius + 1):
        out[:, step:] += rows[:, :-step]
        out[:, :-step] += rows[:, step:]
    return out
