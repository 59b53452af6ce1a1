"""Cut-out on light, neutral backgrounds as a diffusion model draws them: a background *surface*.

"…, sticker, white background" gives a near-white background with paper grain, blotches, a vignette,
a light falloff and a soft contact shadow, around a character that is itself cream, white or pale grey.
One key colour with a wide tolerance eats the pale parts and keeps the shadow, so here:

1. Certain background (a border flood with the parametric key) gives samples of the paper; a coarse
   grid of their means, filled in where the subject hides it and smoothly enlarged, is the background
   *surface* (texture blotches, vignette and falloff included).
2. Every pixel is judged against the surface at its own place, in luminance and in chroma separately
   (chroma measured against the surface's chroma scaled by the pixel's darkening, so a shadow has
   none and a cream face against off-white paper has plenty): close in both is background; darker
   with the same chroma is *shadow*, which is background too when it is reached from the background
   without crossing a sharp edge (a shadow is soft; the outline of a pale character is not).
3. Enclosed regions become holes only when they match the surface closely (not merely light).
4. Edge pixels are split into subject colour and the *local* background (shadow included), as the
   flat-key path does, so no paper halo is left.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image

from generator.postprocess.morphology import (
    RunComponents,
    block_corners,
    border_mask,
    box_sum,
    dilate,
    erode,
    reconstruct,
)

SURFACE_CELL = 16  # px of the reduced image per grid cell of the background surface
SURFACE_FITS = 1
LIGHT_KEY_MIN = 170.0  # mean channel value above which a neutral key counts as "light paper"
NEUTRAL_KEY_CHROMA = 45.0  # max - min channel of a key below which it is neutral (white, cream, grey)
SHADOW_MIN_RATIO = 0.45  # a shadow darkens the paper to at most this share of its luminance
HOLE_MAX_SHARE = 0.2  # an enclosed paper-like region larger than this share of the subject is not a hole
MAX_HOLE_REGIONS = 24  # hole regions examined one by one (the rest stay subject)
HOLE_LEVEL = 2.0  # luminance levels a hole's local mean may differ from the surface
PRIOR_CONFIDENT = 0.75  # subject-prior value from which a paper-like pixel is kept as subject
OUTLINE_CLOSE = 4  # px (reduced image) by which outlines are thickened before finding the outside
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def is_light_neutral(key: np.ndarray) -> bool:
    """True for the near-white keys (white, cream, pale grey paper) this path is made for."""
    return float(key.mean()) >= LIGHT_KEY_MIN and float(key.max() - key.min()) < NEUTRAL_KEY_CHROMA


@dataclass(frozen=True)
class SurfaceSplit:
    """Background decisions on the reduced image."""

    subject: np.ndarray  # HxW bool
    core: np.ndarray  # HxW bool: pixels matching the surface (luminance and chroma)
    shadow: np.ndarray  # HxW bool: background pixels that are a shadow on the surface
    surface: np.ndarray  # 3xHxW float32: the fitted background surface (colour planes)
    local: LocalBackground  # the background as seen (surface darkened by shadows)


def _cell_sums(values: np.ndarray, cell: int) -> np.ndarray:
    """Integer sums of an HxW[xC] array over cell x cell blocks (edge cells padded with zeros)."""
    h, w = values.shape[:2]
    gh, gw = -(-h // cell), -(-w // cell)
    if (gh * cell, gw * cell) != (h, w):
        padded = np.zeros((gh * cell, gw * cell, *values.shape[2:]), dtype=values.dtype)
        padded[:h, :w] = values
        values = padded
    rows = values.reshape(gh, cell, -1).sum(axis=1, dtype=np.int32)  # sum down each cell's rows
    return rows.reshape(gh, gw, cell, *values.shape[2:]).sum(axis=2)


def _grid_surface(pixels: np.ndarray, certain: np.ndarray, cell: int) -> np.ndarray | None:
    """Fit the background surface: per-cell means of certain-background pixels, empty cells filled
    from their neighbours, enlarged bilinearly to the image size (3xHxW float32 colour planes)."""
    h, w = certain.shape
    gh, gw = -(-h // cell), -(-w // cell)
    counts = _cell_sums(certain, cell).astype(np.float32)
    sums = _cell_sums(pixels * certain[..., None], cell).astype(np.float32)
    valid = counts >= 0.2 * cell * cell
    if valid.sum() < 8:
        return None
    grid = np.where(valid[..., None], sums / np.maximum(counts, 1.0)[..., None], 0.0)
    # Cells the subject hides: a quadratic fit to the known cells (vignette, falloff) plus the known
    # cells' residual (blotches) spread inward ring by ring.
    gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    u, v = (gx + 0.5) / gw * 2 - 1, (gy + 0.5) / gh * 2 - 1
    terms = np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=-1)
    coef, *_ = np.linalg.lstsq(terms[valid], grid[valid], rcond=None)
    smooth = terms @ coef
    residual = np.where(valid[..., None], grid - smooth, 0.0)
    padded_res = np.zeros((gh + 2, gw + 2, 3), dtype=residual.dtype)
    padded_valid = np.zeros((gh + 2, gw + 2), dtype=np.float32)
    for _ in range(gh + gw):
        if valid.all():
            break
        padded_res[1:-1, 1:-1] = residual
        padded_valid[1:-1, 1:-1] = valid
        total = sum(padded_res[a : a + gh, b : b + gw] for a in range(3) for b in range(3))
        number = sum(padded_valid[a : a + gh, b : b + gw] for a in range(3) for b in range(3))
        fill = ~valid & (number > 0)
        residual[fill] = 0.5 * total[fill] / number[fill][:, None]  # fades with distance from the known
        valid = valid | fill
    grid = (smooth + residual).astype(np.float32)
    # Cell centres sit at (i + 0.5) * cell; a bilinear enlargement by `cell` puts them there.
    planes = np.moveaxis(grid, -1, 0)  # 3 x gh x gw
    tall = _enlarge(planes, axis=1, factor=cell, length=h)  # 3 x h x gw: small
    return _enlarge(tall, axis=2, factor=cell, length=w)


@functools.cache
def _taps(size: int, factor: int, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear enlargement by `factor` as Pillow's resize does it: cell centres at (i + 0.5) *
    factor, each output mixes the two cells around it, the outermost half cells hold the edge value.
    Returns (low cell, high cell, low weight, high weight) per output (float32 weights)."""
    centre = (np.arange(length) + 0.5) / factor - 0.5  # in cells
    low = np.clip(np.floor(centre).astype(np.int64), 0, size - 1)
    high = np.minimum(low + 1, size - 1)
    toward_high = np.clip(centre - low, 0.0, 1.0)
    return low, high, (1.0 - toward_high).astype(np.float32), toward_high.astype(np.float32)


def _enlarge(planes: np.ndarray, axis: int, factor: int, length: int) -> np.ndarray:
    """Enlarge float32 colour planes along one axis (1: rows, 2: columns) with `_taps`.

    Gathers and multiplies along contiguous rows: no BLAS call, whose threads would wait for a
    busy second core, and no 3-wide inner loop."""
    low, high, w_low, w_high = _taps(planes.shape[axis], factor, length)
    shape = [1, 1, 1]
    shape[axis] = length
    mixed = planes.take(low, axis=axis)
    mixed *= w_low.reshape(shape)
    other = planes.take(high, axis=axis)
    other *= w_high.reshape(shape)
    mixed += other
    return mixed


class _Colour:
    """An image as float32 luminance and chroma planes (colour minus luminance, 3xHxW).

    Built once per image and compared many times, so the per-pixel conversion is not repeated for
    every comparison; planes keep each operation a plain contiguous pass."""

    def __init__(self, pixels: np.ndarray, min_luma: float | None = None, planar: bool = False) -> None:
        """`pixels`: HxWx3 (or Nx3), or 3xHxW colour planes when `planar`."""
        p = np.asarray(pixels, dtype=np.float32)
        if planar:
            luma = LUMA[0] * p[0] + LUMA[1] * p[1] + LUMA[2] * p[2]
            planes = p
        else:
            luma = p @ LUMA
            planes = np.moveaxis(p, -1, 0)
        if min_luma is not None:
            np.maximum(luma, min_luma, out=luma)
        self.luma = luma
        self.chroma = planes - luma


def _shadow_terms(pixels: _Colour, surface: _Colour) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(luminance difference, luminance ratio, chroma difference) of each pixel against the surface
    (`surface` built with min_luma=1).

    Chroma is the colour minus its luminance; a shadow scales the paper's colour, so its chroma is
    the paper's scaled by the same ratio. The chroma difference is measured against that, so it is
    near zero for paper and shadow alike and large for a cream or pale-blue subject.
    """
    ratio = pixels.luma / surface.luma
    diff = ratio * surface.chroma
    np.subtract(pixels.chroma, diff, out=diff)
    np.multiply(diff, diff, out=diff)
    distance = diff[0] + diff[1]
    distance += diff[2]
    return pixels.luma - surface.luma, ratio, np.sqrt(distance, out=distance)


def _sharpness(luma: np.ndarray) -> np.ndarray:
    """How sharp the local luminance structure is: |4p - sum of 4 neighbours| (a Laplacian).

    A soft shadow (a Gaussian profile several px wide) scores low, an outline's step high."""
    y = np.pad(luma, 1, mode="edge")
    lap = 4 * y[1:-1, 1:-1] - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:]
    return np.abs(lap)


def _small_holes(paper: np.ndarray, seeds: np.ndarray, subject_area: int) -> np.ndarray:
    """The regions of `paper` that hold a seed and are no larger than HOLE_MAX_SHARE of the subject
    (holes included); the first MAX_HOLE_REGIONS such regions in row-major order of their seeds.

    A large enclosed region that matches the paper is far more often a white body inside its outline
    (a llama's fleece) than a hole; a real hole (a donut's, the gap under an arm) is small."""
    regions = RunComponents(paper)
    roots = regions.roots_at(seeds)
    if roots.size == 0:
        return np.zeros_like(paper)
    unique, first = np.unique(roots, return_index=True)
    ordered = unique[np.argsort(first)]
    sizes = regions.sizes()
    limit = HOLE_MAX_SHARE * (subject_area + int(sizes[ordered].sum()))
    examined = ordered[:MAX_HOLE_REGIONS]
    return regions.select(examined[sizes[examined] <= limit])


def _neighbours(mask: np.ndarray) -> np.ndarray:
    """How many of the 8 neighbours of each pixel are set."""
    padded = np.pad(mask.astype(np.uint8), 1)
    h, w = mask.shape
    total = sum(padded[a : a + h, b : b + w] for a in range(3) for b in range(3))
    return total - mask.astype(np.uint8)


def _box_mean_where(values: np.ndarray, weight: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of HxWxC `values` over the `weight` pixels of each (2r+1)^2 window, and the count."""

    weights = weight.astype(np.float32)
    total = box_sum(values.astype(np.float32) * weights[..., None], radius)
    count = box_sum(weights, radius)
    return total / np.maximum(count, 1.0)[..., None], count


@dataclass(frozen=True)
class LocalBackground:
    """The background as seen around each pixel of the reduced image (surface darkened by shadows):
    the mean of the background pixels in its 7x7 window, or the surface where there are none.

    The window sums are integers below 2^16, so the three channels and the count travel in the
    16-bit lanes of one int64 per pixel (one box sum instead of four); they become colours only
    where asked for (the edge band)."""

    sums: np.ndarray  # HxW int64: packed window sums of R, G, B and the count
    surface: np.ndarray  # 3xHxW float32 colour planes

    @classmethod
    def of(cls, pixels: np.ndarray, background: np.ndarray, surface: np.ndarray) -> LocalBackground:
        h, w = background.shape
        lanes = np.zeros((h, w, 4), dtype=np.uint16)
        np.multiply(pixels, background[..., None], out=lanes[..., :3])
        lanes[..., 3] = background
        return cls(sums=box_sum(lanes.view(np.int64)[..., 0], 3), surface=surface)

    def at(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """The local background colour (Nx3 float32) at the given pixels of the reduced image."""
        totals = self.sums[ys, xs][:, None].view(np.uint16)
        count = totals[:, 3].astype(np.float32)
        mean = totals[:, :3].astype(np.float32) / np.maximum(count, 1.0)[:, None]
        return np.where((count > 0)[:, None], mean, self.surface[:, ys, xs].T)


def split_surface(
    small: np.ndarray,
    key_surface: np.ndarray,
    noise: float,
    spread: float,
    *,
    holes: bool,
    hole_block: int,
    prior: np.ndarray | None = None,
) -> SurfaceSplit | None:
    """Subject/background on the reduced image, starting from the border's key colour (`key_surface`:
    3xHxW colour planes, the flat key or its fitted gradient) and the border's noise and spread.

    `prior` (HxW float32 in [0, 1] on the reduced grid, e.g. the generator's cross-attention for the
    subject) protects where it is confident: pixels there that look like paper (white on white) stay
    subject and are never holes. Elsewhere it changes nothing.
    """
    noise = max(noise, 1.0)
    protected = None if prior is None else prior >= PRIOR_CONFIDENT
    t_lum = max(2.2 * noise, 6.0)
    t_chroma = max(1.8 * noise, 4.0)
    # Outlines: a Laplacian well above the noise, isolated noise pixels dropped. A thin outline
    # that the reduction has lightened to near-paper still has a sharp profile, so no flood crosses
    # it into a white fleece or face.
    colour = _Colour(small)
    edges = _sharpness(colour.luma) > max(3.0 * noise, 8.0)
    edges &= _neighbours(edges) >= 2
    # First paper: a border flood against the key in the same luminance/chroma terms, with room for
    # the blotches and shading the key's gradient does not follow, but no room in chroma (shading does
    # not change it, so a pale-blue cloud on pinkish paper stays out).
    d_lum, _, d_chroma = _shadow_terms(colour, _Colour(key_surface, min_luma=1.0, planar=True))
    first = (
        (np.abs(d_lum) < max(2.2 * noise, 6.0, 1.2 * spread)) & (d_chroma < max(1.8 * noise, 4.0)) & ~edges
    )
    background = reconstruct(first, first & border_mask(first.shape))
    edge = border_mask(first.shape, 2)
    for _ in range(SURFACE_FITS):  # fit, flood against the fit, (fit again on what that flood found)
        certain = erode(background, 2) | (background & edge)
        surface = _grid_surface(small, certain, SURFACE_CELL)
        if surface is None:
            return None
        d_lum, ratio, d_chroma = _shadow_terms(colour, _Colour(surface, min_luma=1.0, planar=True))
        neutral = d_chroma < t_chroma
        core = neutral & (np.abs(d_lum) < t_lum)
        if protected is not None:
            core &= ~protected
        passable = core & ~edges
        background = reconstruct(passable, passable & border_mask(core.shape))
        background |= dilate(background, 1) & core  # the paper side of an outline's sharp rim

    # Shadows: darker than the surface with the same chroma, and *outside* every sharp outline.
    # The outlines are thickened by OUTLINE_CLOSE px so that a stretch where a grey character meets
    # an equally dark shadow does not open a way in; what the border reaches around them is outside.
    # A shadow pixel counts as background when it is outside or within reach of the outside.
    outside_space = ~dilate(edges, OUTLINE_CLOSE)
    outside = reconstruct(outside_space, outside_space & border_mask(core.shape))
    shadow_like = neutral & (d_lum < 0) & (ratio > SHADOW_MIN_RATIO) & ~edges
    shadow = dilate(outside & shadow_like, OUTLINE_CLOSE + 1) & shadow_like & ~background
    if protected is not None:
        shadow &= ~protected
    background = background | shadow

    subject = ~background
    # Drop specks (components without a 3x3 block and without a strongly different pixel).
    distinct = ~neutral | (np.abs(d_lum) > 3 * t_lum)
    keep = dilate(erode(subject, 1), 1) | distinct
    if (subject & ~keep).any():
        subject = reconstruct(subject, keep & subject)
    if holes:
        # An enclosed region is a hole only if it holds a block of pixels matching the surface closely:
        # each pixel within the noise, and the 7x7 mean luminance of the paper-like pixels around it
        # within HOLE_LEVEL of the surface (averaging removes the noise, so a white fleece 5 levels
        # above the paper does not pass).
        strict = core & subject & (np.abs(d_lum) < 0.6 * t_lum) & (d_chroma < 0.8 * t_chroma)
        if protected is not None:
            strict &= ~protected
        if block_corners(strict, hole_block).any():  # the level test can only remove seeds: skip if none
            level, count = _box_mean_where(d_lum[..., None], core, 3)
            strict &= (np.abs(level[..., 0]) < max(HOLE_LEVEL, 0.25 * t_lum)) & (count >= 25)
            seeds = block_corners(strict, hole_block)
            if seeds.any():
                subject &= ~_small_holes(core & subject, seeds, int(subject.sum()))
    local = LocalBackground.of(small, background, surface)
    return SurfaceSplit(subject=subject, core=core, shadow=shadow, surface=surface, local=local)


def surface_match(pixels: np.ndarray, surface: np.ndarray, noise: float) -> np.ndarray:
    """Pixels that match the surface in luminance and chroma (the `core` test of `split_surface`)."""
    noise = max(noise, 1.0)
    d_lum, _, d_chroma = _shadow_terms(_Colour(pixels), _Colour(surface, min_luma=1.0))
    return (d_chroma < max(1.8 * noise, 4.0)) & (np.abs(d_lum) < max(2.2 * noise, 6.0))


def mean3x3_at(rgb: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The 3x3 mean colour (Nx3 float32) around the given pixels (edges clamped), noise halved."""
    h, w = rgb.shape[:2]
    flat = rgb.reshape(-1, 3)
    rows = [np.clip(ys + dy, 0, h - 1) * w for dy in (-1, 0, 1)]
    cols = [np.clip(xs + dx, 0, w - 1) for dx in (-1, 0, 1)]
    total = np.zeros((ys.size, 3), dtype=np.int32)
    for row in rows:
        for col in cols:
            total += flat.take(row + col, axis=0)
    return total.astype(np.float32) / 9.0


def prior_on_grid(prior: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A subject prior of any resolution (HxW, values in [0, 1]) resized bilinearly to `shape`."""
    values = np.clip(np.asarray(prior, dtype=np.float32), 0.0, 1.0)
    if values.shape == shape:
        return values
    resized = Image.fromarray(values, "F").resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32)
