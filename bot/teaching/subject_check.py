"""Is one subject visible in most of the photos? A heuristic on colour and texture, not a detector.

No model is shipped for this, so the check is deliberately conservative: it refuses only what is
clear, because refusing a good photo of the user's own dog is worse than training on a poor one.

Each photo is shrunk to 64x64 and converted to CIELAB. It is cut into 16x16 cells (mean L, a, b and
the spread of L); a cell's *saliency* is how far it is (ΔE) from most of the border cells: the
background usually fills the border, a subject rarely touches all of it.

- **Nothing stands out**: even the most salient cells (95th percentile) are within
  `FLAT_MAX_DELTA` of the border: a blank wall, the sky, a uniform carpet.
- **Something else**: a signature of the salient, central part of each photo (a soft histogram of
  the chroma a*b*, one of lightness L* and one of edge strength, compared by Hellinger distance) is
  compared with the set's medoid (the photo closest to all others). A photo far from it, both in
  absolute terms and against the set's own spread, shows something else; when fewer than half the
  photos are close to the medoid (`ALIKE_MAX_DISTANCE`), the set as a whole is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from bot.teaching.errors import TeachError

SIDE = 64  # analysis size (pixels); cells are CELL x CELL pixels
CELL = 4
FLAT_MAX_DELTA = 8.0  # ΔE (plus spread of L): below this nothing stands out from the border
BORDER_QUANTILE = 25  # a cell is salient when it differs from at least 75% of the border cells
OUTLIER_MIN_DISTANCE = 0.63  # signature distance to the medoid above which a photo may be "else"
OUTLIER_SPREAD_FACTOR = 1.6  # ... and it must also be this many times the set's median distance
ALIKE_MAX_DISTANCE = 0.5  # photos this close to the medoid agree; fewer than half agreeing: refused
WEIGHTS = (0.7, 0.15, 0.15)  # chroma, lightness, edges in the signature distance

_RGB_TO_XYZ = np.array(
    [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]], dtype=np.float32
)
_WHITE = np.array([0.9505, 1.0, 1.089], dtype=np.float32)
_AB_EDGES = np.linspace(-60, 60, 7)  # 6x6 chroma bins
_L_EDGES = np.linspace(0, 100, 7)  # 6 lightness bins
_EDGE_EDGES = np.array([0.0, 1.5, 3.0, 6.0, 12.0, 24.0, 48.0])  # |∇L*| per pixel at 64 px


@dataclass(frozen=True, slots=True)
class Signature:
    salience: float  # the 95th percentile of the cells' saliency (ΔE)
    chroma: np.ndarray  # 8x8, sums to 1
    lightness: np.ndarray  # 6
    edges: np.ndarray  # 6


def to_lab(image: Image.Image) -> np.ndarray:
    """SIDE x SIDE x 3 CIELAB (D65) of an RGB image, box-averaged down."""
    small = image.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BOX, reducing_gap=2.0)
    rgb = np.asarray(small, dtype=np.float32) / 255.0
    linear = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = (linear @ _RGB_TO_XYZ.T) / _WHITE
    delta = 6.0 / 29.0
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4.0 / 29.0)
    return np.stack(
        [116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], axis=-1
    )


def signature(image: Image.Image) -> Signature:
    lab = to_lab(image)
    n = SIDE // CELL
    blocks = lab.reshape(n, CELL, n, CELL, 3).transpose(0, 2, 1, 3, 4).reshape(n, n, CELL * CELL, 3)
    cells = np.concatenate([blocks.mean(axis=2), blocks[..., 0].std(axis=2)[..., None]], axis=-1)
    ring = np.ones((n, n), dtype=bool)
    ring[1:-1, 1:-1] = False
    grid = (np.arange(n) + 0.5) / n - 0.5
    design = np.stack([np.ones((n, n)), *np.meshgrid(grid, grid, indexing="ij")], axis=-1)
    trend, *_ = np.linalg.lstsq(design[ring], cells[ring], rcond=None)  # even light, gradients
    cells = cells - design @ trend
    border = cells[ring]  # (4n-4, 4)
    distances = np.sqrt(((cells.reshape(-1, 1, 4) - border[None]) ** 2).sum(-1))
    saliency = np.percentile(distances, BORDER_QUANTILE, axis=1).reshape(n, n)
    salience = float(np.percentile(saliency, 95))

    # Where to look: salient cells, favouring the middle (people centre what they photograph).
    centre = np.exp(-(grid[:, None] ** 2 + grid[None, :] ** 2) / (2 * 0.25**2))
    weight_cells = centre * (1e-3 + np.clip(saliency / max(salience, 1e-3), 0.0, 1.0) ** 4)
    weight = np.repeat(np.repeat(weight_cells, CELL, axis=0), CELL, axis=1)

    lightness = lab[..., 0]
    gy, gx = np.gradient(lightness)
    return Signature(
        salience,
        _soft_histogram_2d(lab[..., 1], lab[..., 2], weight, _AB_EDGES),
        _soft_histogram(lightness, weight, _L_EDGES),
        _soft_histogram(np.hypot(gx, gy), weight, _EDGE_EDGES),
    )


def distance(one: Signature, other: Signature) -> float:
    """0 (alike) … 1 (nothing in common): weighted Hellinger distances of the three histograms."""
    parts = [
        _hellinger(one.chroma, other.chroma),
        _hellinger(one.lightness, other.lightness),
        _hellinger(one.edges, other.edges),
    ]
    return float(sum(w * d for w, d in zip(WEIGHTS, parts, strict=True)))


def check_one_subject(images: Sequence[Image.Image], names: Sequence[str]) -> list[tuple[int, str]]:
    """The photos to refuse, as (index, reason); TeachError when the set as a whole shows no one subject."""
    signatures = [signature(image) for image in images]
    refused: dict[int, str] = {
        i: "nothing in it stands out" for i, s in enumerate(signatures) if s.salience < FLAT_MAX_DELTA
    }
    kept = [i for i in range(len(images)) if i not in refused]
    if len(kept) < 3:  # too few to tell a majority
        return sorted(refused.items())
    matrix = np.array([[distance(signatures[i], signatures[j]) for j in kept] for i in kept])
    medoid = int(np.argmin(matrix.sum(axis=1)))
    to_medoid = matrix[medoid]
    others = np.delete(to_medoid, medoid)
    limit = max(OUTLIER_MIN_DISTANCE, OUTLIER_SPREAD_FACTOR * float(np.median(others)))
    far = [kept[k] for k in range(len(kept)) if to_medoid[k] > limit]
    alike = int((to_medoid <= ALIKE_MAX_DISTANCE).sum())  # the medoid itself included
    if alike < len(images) / 2:
        far = [kept[k] for k in range(len(kept)) if to_medoid[k] > ALIKE_MAX_DISTANCE]
        unlike = [names[i] for i in sorted([*far, *refused])][:5]
        raise TeachError(
            f"These photos don't look like one subject: fewer than half of them are alike "
            f"(unlike the rest: {', '.join(unlike)}). Send photos of just that one subject."
        )
    for i in far:
        refused[i] = "shows something else than the other photos"
    return sorted(refused.items())


def _soft_histogram(values: np.ndarray, weight: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Linear interpolation between neighbouring bin centres, so a small shift moves mass smoothly."""
    centres = (edges[:-1] + edges[1:]) / 2
    position = np.interp(values.ravel(), centres, np.arange(len(centres)))
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(centres) - 1)
    frac = position - low
    w = weight.ravel()
    hist = np.bincount(low, w * (1 - frac), len(centres)) + np.bincount(high, w * frac, len(centres))
    return hist / max(float(hist.sum()), 1e-9)


def _soft_histogram_2d(a: np.ndarray, b: np.ndarray, weight: np.ndarray, edges: np.ndarray) -> np.ndarray:
    centres = (edges[:-1] + edges[1:]) / 2
    k = len(centres)
    pa = np.interp(a.ravel(), centres, np.arange(k))
    pb = np.interp(b.ravel(), centres, np.arange(k))
    la, lb = np.floor(pa).astype(int), np.floor(pb).astype(int)
    ha, hb = np.minimum(la + 1, k - 1), np.minimum(lb + 1, k - 1)
    fa, fb = pa - la, pb - lb
    w = weight.ravel()
    hist = np.zeros(k * k)
    for ia, ib, part in (
        (la, lb, (1 - fa) * (1 - fb)),
        (ha, lb, fa * (1 - fb)),
        (la, hb, (1 - fa) * fb),
        (ha, hb, fa * fb),
    ):
        hist += np.bincount(ia * k + ib, w * part, k * k)
    return (hist / max(float(hist.sum()), 1e-9)).reshape(k, k)


def _hellinger(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sqrt(max(0.0, 1.0 - float(np.sqrt(p * q).sum()))))
