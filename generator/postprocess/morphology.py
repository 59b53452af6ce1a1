"""Vectorised binary morphology on numpy masks (no scipy): reconstruction, dilation, distances.

Everything here works on 2-D boolean or small-integer arrays and costs a fixed number of whole-array
numpy operations, so a 512x512 mask takes a few milliseconds at most.
"""

from __future__ import annotations

import numpy as np

_MAX_SWEEPS = 256


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


class _Runs:
    """Maximal runs of True along the rows of a mask, for filling whole runs at once."""

    def __init__(self, mask: np.ndarray) -> None:
        h, w = mask.shape
        padded = np.zeros((h, w + 1), dtype=bool)
        padded[:, :w] = mask
        flat = padded.ravel()
        starts = np.empty_like(flat)
        starts[0] = flat[0]
        np.greater(flat[1:], flat[:-1], out=starts[1:])
        self.starts = np.flatnonzero(starts)
        run_id = np.cumsum(starts, dtype=np.int32) - 1
        np.maximum(run_id, 0, out=run_id)
        self.run_id = run_id.reshape(h, w + 1)[:, :w]
        self.mask = mask
        self.shape = (h, w)

    def fill(self, reached: np.ndarray) -> np.ndarray:
        """Every run that holds a reached pixel becomes reached (reached must lie inside the mask)."""
        if self.starts.size == 0:
            return np.zeros(self.shape, dtype=bool)
        h, w = self.shape
        padded = np.zeros((h, w + 1), dtype=bool)
        padded[:, :w] = reached
        hit = np.logical_or.reduceat(padded.ravel(), self.starts)
        return hit[self.run_id] & self.mask


def reconstruct(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The 4-connected components of `mask` that contain a seed (morphological reconstruction).

    Alternates row and column sweeps; each sweep fills whole straight runs, so the number of
    sweeps is the number of turns a path needs, not its length. Converges in a handful of sweeps
    for real images; a pathological spiral stops at a fixed cap with a subset of the answer.
    """
    mask = np.asarray(mask, dtype=bool)
    reached = np.asarray(seeds, dtype=bool) & mask
    if not reached.any():
        return reached
    rows = _Runs(mask)
    cols = _Runs(np.ascontiguousarray(mask.T))
    count = np.count_nonzero(reached)
    for sweep in range(2 * _MAX_SWEEPS):
        if sweep % 2 == 0:
            reached = rows.fill(reached)
        else:
            reached = np.ascontiguousarray(cols.fill(np.ascontiguousarray(reached.T)).T)
        new_count = np.count_nonzero(reached)
        # Once the state is closed under one direction, a sweep that adds nothing means it is
        # closed under both: the components are complete.
        if new_count == count and sweep > 0:
            break
        count = new_count
    return reached


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
