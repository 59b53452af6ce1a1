"""Model-free background removal for images of a subject on a flat (or smoothly shaded) colour.

1. Estimate the key colour from the image border: a histogram mode refined by medians, so noise
   and a subject touching an edge do not move it; then fit a gentle gradient/vignette to the border
   so lighting falloff does not stop the fill.
2. Flood-fill from the border over pixels within a tolerance of that background (on a box-reduced
   copy, so noise does not stop the fill), drop specks, and add enclosed holes of the exact key
   colour; a full-resolution pass then lets the fill into gaps narrower than the reduction.
3. Soften the edge: every pixel near the boundary is modelled as a mix of the background colour and
   the nearby subject colour; the mix weight is its alpha and the subject colour replaces the mixed
   one, so no key colour is left in the fringe. A saturated key (green screen) also gets its hue
   removed from the subject's outer pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageFilter

from generator.postprocess.errors import NoBackground, NoSubject
from generator.postprocess.morphology import block_corners, border_mask, box_sum, dilate, erode, reconstruct
from generator.postprocess.options import RGB, StickerOptions
from generator.postprocess.surface import (
    LocalBackground,
    is_light_neutral,
    mean3x3_at,
    prior_on_grid,
    split_surface,
    surface_match,
)

MIN_BORDER_COVERAGE = 0.35  # share of the border that must show the key colour
EDGE_BAND = 2  # px each side of the boundary whose alpha is measured (more after a reduction)
SPILL_BAND = 4  # px near the boundary that may carry key-colour spill (excluded from the interior hue)
CORE_WINDOW = 4  # radius of the window that supplies the subject colour for edge pixels
NOISY_PIXELS = 6.0  # pixel noise above which the full-resolution pass works on a smoothed copy
GRADIENT_MIN = 4.0  # background colour change (corner to centre) below which it counts as flat
SPILL_MIN_CHROMA = 60.0  # a key colour with less chroma (white, grey, black) has no hue to remove


@dataclass(frozen=True)
class BackgroundEstimate:
    """The key colour and how the border looks around it.

    spread: 95th percentile distance of background border pixels from the key colour (noise plus
        any gradient or vignette) on the reduced image the flood fill runs on.
    noise: pixel-to-pixel noise along the border of that reduced image (not raised by gradients).
    pixel_noise: the same at full resolution, for the alpha of edge pixels.
    coverage: the share of the border within the tolerance of the key colour.
    """

    color: tuple[float, float, float]
    spread: float
    noise: float
    pixel_noise: float
    coverage: float
    gradient: np.ndarray | None = None  # 4x3 coefficients of [1, x, y, x^2 + y^2]; None when flat

    def colour_at(self, ys: np.ndarray, xs: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """The background colour (Nx3 float32) at pixels of an image of `shape`."""
        return self.colour_at_normalised(_normalised(xs, shape[1]), _normalised(ys, shape[0]))

    def colour_at_normalised(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.gradient is None:
            return np.broadcast_to(np.asarray(self.color, dtype=np.float32), (x.size, 3))
        return (_terms(x, y) @ self.gradient).astype(np.float32)

    def distance2(self, pixels: np.ndarray) -> np.ndarray:
        """Squared colour distance of every pixel of an HxWx3 image from the background there."""
        if self.gradient is None:
            return _distance2(pixels, np.asarray(self.color, dtype=np.float32))
        h, w = pixels.shape[:2]
        x = _normalised(np.arange(w), w)[None, :]
        y = _normalised(np.arange(h), h)[:, None]
        radial = x * x + y * y
        total = np.zeros((h, w), dtype=np.float32)
        for channel in range(3):
            c0, cx, cy, cr = (float(v) for v in self.gradient[:, channel])
            diff = pixels[..., channel].astype(np.float32) - (c0 + cx * x + cy * y + cr * radial)
            total += diff * diff
        return total


@dataclass(frozen=True)
class SurfaceEstimate(BackgroundEstimate):
    """A background estimate with the background as seen at every pixel (surface and shadows)."""

    local: LocalBackground | None = None  # on the image reduced by `local_factor`
    local_factor: int = 1

    def colour_at(self, ys: np.ndarray, xs: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        if self.local is None:
            return super().colour_at(ys, xs, shape)
        h, w = self.local.sums.shape
        f = self.local_factor
        return self.local.at(np.minimum(ys // f, h - 1), np.minimum(xs // f, w - 1))


@dataclass(frozen=True)
class KeyResult:
    rgba: np.ndarray  # HxWx4 uint8
    background: BackgroundEstimate | None
    fallback: bool  # True when the whole image was kept because no background could be separated


def _border_pixels(pixels: np.ndarray, band: int) -> np.ndarray:
    h, w = pixels.shape[:2]
    band = max(1, min(band, h // 2, w // 2))
    parts = [
        pixels[:band].reshape(-1, 3),
        pixels[h - band :].reshape(-1, 3),
        pixels[band : h - band, :band].reshape(-1, 3),
        pixels[band : h - band, w - band :].reshape(-1, 3),
    ]
    return np.concatenate(parts).astype(np.float32)


def _border_coordinates(shape: tuple[int, int], band: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised (x, y) of the pixels `_border_pixels` returns, in the same order."""
    h, w = shape
    band = max(1, min(band, h // 2, w // 2))

    def strip(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.repeat(rows, cols.size), np.tile(cols, rows.size)

    all_cols, side_rows = np.arange(w), np.arange(band, h - band)
    parts = [
        strip(np.arange(band), all_cols),
        strip(np.arange(h - band, h), all_cols),
        strip(side_rows, np.arange(band)),
        strip(side_rows, np.arange(w - band, w)),
    ]
    y = np.concatenate([p[0] for p in parts])
    x = np.concatenate([p[1] for p in parts])
    return _normalised(x, w), _normalised(y, h)


def _normalised(index: np.ndarray, length: int) -> np.ndarray:
    """Pixel index → coordinate in [-1, 1] (same for an image and its box-reduced copy)."""
    return ((np.asarray(index, dtype=np.float32) + 0.5) * (2.0 / length) - 1.0).astype(np.float32)


def _terms(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(x), x, y, x * x + y * y], axis=1)


def _fit_gradient(
    border: np.ndarray, coords: tuple[np.ndarray, np.ndarray], centre: np.ndarray, tolerance: float
) -> np.ndarray | None:
    """Fit a smooth background (a plane plus a radial term, per channel) to the border pixels near
    the key colour: lighting gradients and vignettes. None when the background is flat anyway."""
    terms = _terms(coords[0], coords[1])
    inliers = np.linalg.norm(border - centre, axis=1) < 1.5 * tolerance
    coef: np.ndarray | None = None
    for _ in range(3):
        if inliers.sum() < 32:
            return None
        coef, *_ = np.linalg.lstsq(terms[inliers], border[inliers], rcond=None)
        residual = np.linalg.norm(terms @ coef - border, axis=1)
        fitted, inliers = inliers, residual < tolerance
        if np.array_equal(inliers, fitted):
            break  # the same inliers would give the same fit again
    if coef is None:
        return None
    corners = _terms(np.array([-1, 1, -1, 1, 0], np.float32), np.array([-1, -1, 1, 1, 0], np.float32))
    variation = np.abs(corners @ coef - centre).max()
    return coef.astype(np.float32) if variation >= GRADIENT_MIN else None


def _refine(border: np.ndarray, centre: np.ndarray, radii: tuple[float, ...]) -> np.ndarray:
    for radius in radii:
        near = border[np.linalg.norm(border - centre, axis=1) < radius]
        if near.shape[0] == 0:
            break
        centre = np.median(near, axis=0)
    return centre


def estimate_background(
    rgb: np.ndarray, tolerance: float, hint: RGB | None = None, smoothed: np.ndarray | None = None
) -> BackgroundEstimate:
    """Estimate the key colour from the border of an HxWx3 uint8 image."""
    h, w = rgb.shape[:2]
    band = max(2, min(h, w) // 200)
    border = _border_pixels(rgb, band)
    centre: np.ndarray | None = None
    if hint is not None:
        hinted = np.asarray(hint, dtype=np.float32)
        near = np.linalg.norm(border - hinted, axis=1) < max(100.0, 2 * tolerance)
        if near.mean() >= MIN_BORDER_COVERAGE * 0.7:
            centre = _refine(border, hinted, (100.0, 60.0, 40.0))
    if centre is None:
        quantised = border.astype(np.int32) >> 4
        index = (quantised[:, 0] << 8) | (quantised[:, 1] << 4) | quantised[:, 2]
        counts = np.bincount(index, minlength=4096).reshape(16, 16, 16)
        # Sum each bin with its 26 neighbours, so a noisy background spread over adjacent bins
        # still outweighs a flat subject that fills one bin.
        padded = np.pad(counts, 1)
        smoothed_counts = sum(
            padded[a : a + 16, b : b + 16, c : c + 16] for a in range(3) for b in range(3) for c in range(3)
        )
        peak = np.unravel_index(int(np.argmax(smoothed_counts)), smoothed_counts.shape)
        near_peak = (np.abs(quantised - np.asarray(peak)) <= 1).all(axis=1)
        centre = np.median(border[near_peak], axis=0)
        centre = _refine(border, centre, (60.0, 40.0, 40.0))
    coords = _border_coordinates((h, w), band)
    gradient = _fit_gradient(border, coords, centre, tolerance)
    expected = centre if gradient is None else _terms(*coords) @ gradient
    distances = np.linalg.norm(border - expected, axis=1)
    coverage = float((distances < tolerance).mean())
    reduced = rgb if smoothed is None else smoothed
    r, g, b = (float(c) for c in centre)
    estimate = BackgroundEstimate(
        color=(r, g, b),
        spread=0.0,
        noise=0.0,
        pixel_noise=0.0,
        coverage=coverage,
        gradient=gradient,
    )
    reduced_band = max(1, band * reduced.shape[0] // h)
    samples = _border_pixels(reduced, reduced_band)
    expected = estimate.colour_at_normalised(*_border_coordinates(reduced.shape[:2], reduced_band))
    near_key = np.linalg.norm(samples - expected, axis=1)
    near_key = near_key[near_key < 1.5 * tolerance]
    return replace(
        estimate,
        spread=float(np.percentile(near_key, 95)) if near_key.size else 0.0,
        noise=_edge_noise(reduced, estimate, tolerance),
        pixel_noise=_edge_noise(rgb, estimate, tolerance),
    )


def _edge_noise(pixels: np.ndarray, estimate: BackgroundEstimate, tolerance: float) -> float:
    """Noise as the 90th percentile colour step between neighbouring background pixels along the
    image's outer rows and columns, divided by sqrt(2); a smooth gradient adds almost nothing."""
    h, w = pixels.shape[:2]
    rows, cols = np.arange(w), np.arange(h)
    lines = (
        (pixels[0], np.zeros(w, int), rows),
        (pixels[-1], np.full(w, h - 1), rows),
        (pixels[:, 0], cols, np.zeros(h, int)),
        (pixels[:, -1], cols, np.full(h, w - 1)),
    )
    steps: list[np.ndarray] = []
    for line, ys, xs in lines:
        values = line.astype(np.float32)
        near = np.linalg.norm(values - estimate.colour_at(ys, xs, (h, w)), axis=1) < 1.5 * tolerance
        pair = near[1:] & near[:-1]
        steps.append(np.linalg.norm(values[1:] - values[:-1], axis=1)[pair])
    joined = np.concatenate(steps)
    return float(np.percentile(joined, 90)) / np.sqrt(2.0) if joined.size else 0.0


def _distance2(pixels: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Squared RGB distance (int32) of every pixel of an HxWx3 uint8 image from `colour`."""
    total = np.zeros(pixels.shape[:2], dtype=np.int32)
    for channel in range(3):
        diff = pixels[..., channel].astype(np.int32) - round(float(colour[channel]))
        total += diff * diff
    return total


def flood_factor(height: int, width: int) -> int:
    """How much the image is reduced (box average) before the flood fill: speed and denoising."""
    side = min(height, width)
    return 1 if side < 256 else 2 if side < 1024 else 4


def key_background(rgb: np.ndarray, options: StickerOptions, prior: np.ndarray | None = None) -> KeyResult:
    """Remove the flat background of an HxWx3 uint8 image; returns an HxWx4 uint8 cut-out.

    The region decisions (flood fill, specks, holes) run on a box-reduced copy, which averages the
    noise away and is several times cheaper; alpha and colour are then computed at full resolution
    in a band around the boundary that is wider than the reduction's blockiness. `prior` is an
    optional coarse subject mask (the generator's attention), used on light paper backgrounds.
    """
    h, w = rgb.shape[:2]
    if h < 3 or w < 3:
        raise NoSubject("The image is too small to cut out.")
    factor = flood_factor(h, w)
    image = Image.fromarray(rgb)
    small = np.asarray(image.reduce(factor) if factor > 1 else image.filter(ImageFilter.BoxBlur(1)))
    estimate = estimate_background(rgb, options.tolerance, options.background, small)
    if estimate.coverage < MIN_BORDER_COVERAGE:
        if options.on_no_background == "error":
            raise NoBackground("Couldn't find a plain background to remove around the subject.")
        return KeyResult(rgba=_keep_whole(rgb), background=estimate, fallback=True)

    key = np.asarray(estimate.color, dtype=np.float32)
    chromatic = _has_hue(key)
    if options.surface and not chromatic and is_light_neutral(key):
        surface = _surface_cut(rgb, small, factor, estimate, options, prior)
        if surface is not None:
            return surface

    threshold = min(max(options.tolerance, 1.5 * estimate.spread, 3.0 * estimate.noise), 250.0)
    d_small = estimate.distance2(small)
    candidate = d_small < threshold * threshold
    background = reconstruct(candidate, candidate & border_mask(candidate.shape))

    subject = ~background
    # Drop specks: keep a component only if it holds a 3x3 block or a pixel far from the key
    # (so thin lines and small dots survive, stray noise does not).
    keep = dilate(erode(subject, 1), 1) | (d_small > (2.0 * threshold) ** 2)
    if (subject & ~keep).any():
        subject = reconstruct(subject, keep & subject)
    # A hue key (green screen) is chosen because the subject does not contain it, so any enclosed
    # region of that colour is background; near a neutral key (white) the subject's own light
    # areas (eye whites, highlights) must survive, so only near-exact matches count there.
    if options.holes:
        hole_block = max(2, round(5 * min(h, w) / 512 / factor))
        strict = threshold if chromatic else max(0.35 * threshold, 2.0 * estimate.noise)
        subject &= ~_background_holes(candidate & subject, d_small, min(strict, threshold), hole_block)
    if subject.sum() * factor * factor < max(16, (h * w) // 5000):
        if int(d_small.max()) < threshold * threshold:
            raise NoSubject("The image is a single flat colour; there is nothing to cut out.")
        raise NoSubject("Nothing is left once the background is removed.")
    interior_lean = _interior_lean(small, subject, key, depth=SPILL_BAND // factor + 1) if chromatic else None
    if factor > 1:
        subject = np.repeat(np.repeat(subject, factor, axis=0), factor, axis=1)[:h, :w]
        # Full-resolution pass: let the background grow into gaps narrower than the reduction
        # (between letters, under an arm); it only ever adds background.
        # A noisy image is smoothed first (3x3 mean), so grain does not break up the fill.
        noisy = estimate.pixel_noise > NOISY_PIXELS
        full = np.asarray(image.filter(ImageFilter.BoxBlur(1))) if noisy else rgb
        near_key = estimate.distance2(full) < threshold * threshold
        seeds = near_key & ~subject
        if chromatic and options.holes:  # key-coloured holes too small for the reduced image
            seeds |= block_corners(near_key, 2)
        subject &= ~reconstruct(near_key, seeds)

    rgba = _soft_edges(rgb, subject, key, estimate, reach=max(EDGE_BAND, factor))
    if interior_lean is not None:
        _remove_spill(rgba, key, interior_lean, factor)
    return KeyResult(rgba=rgba, background=estimate, fallback=False)


def _surface_cut(
    rgb: np.ndarray,
    small: np.ndarray,
    factor: int,
    estimate: BackgroundEstimate,
    options: StickerOptions,
    prior: np.ndarray | None,
) -> KeyResult | None:
    """Light paper backgrounds: judge pixels against a fitted background surface (see `surface`)."""
    h, w = rgb.shape[:2]
    sh, sw = small.shape[:2]
    key_surface = _key_surface(estimate, (sh, sw))
    hole_block = max(2, round(5 * min(h, w) / 512 / factor))
    grid_prior = None if prior is None else prior_on_grid(prior, small.shape[:2])
    split = split_surface(
        small,
        key_surface,
        estimate.noise,
        estimate.spread,
        holes=options.holes,
        hole_block=hole_block,
        prior=grid_prior,
    )
    if split is None:
        return None
    subject = split.subject
    if subject.sum() * factor * factor < max(16, (h * w) // 5000):
        return None
    if factor > 1:
        subject = np.repeat(np.repeat(subject, factor, axis=0), factor, axis=1)[:h, :w]
        # Full-resolution pass: background (matching the surface) grows into gaps narrower than the
        # reduction; it only ever adds background, so only pixels near it are tested.
        ys, xs = np.nonzero(subject & dilate(~subject, factor + 1))
        matches = ~subject
        matches[ys, xs] = surface_match(
            mean3x3_at(rgb, ys, xs), split.surface[:, ys // factor, xs // factor].T, estimate.pixel_noise / 2
        )
        subject &= ~reconstruct(matches, ~subject)
    surface_estimate = SurfaceEstimate(
        **{f: getattr(estimate, f) for f in _ESTIMATE_FIELDS}, local=split.local, local_factor=factor
    )
    key = np.asarray(estimate.color, dtype=np.float32)
    rgba = _soft_edges(rgb, subject, key, surface_estimate, reach=max(EDGE_BAND, factor))
    return KeyResult(rgba=rgba, background=surface_estimate, fallback=False)


def _key_surface(estimate: BackgroundEstimate, shape: tuple[int, int]) -> np.ndarray:
    """The border's key colour (flat or its fitted gradient) at every pixel: 3xHxW float32 planes."""
    h, w = shape
    if estimate.gradient is None:
        colour = np.asarray(estimate.color, dtype=np.float32)[:, None, None]
        return np.broadcast_to(colour, (3, h, w))
    x = _normalised(np.arange(w), w)[None, :]
    y = _normalised(np.arange(h), h)[:, None]
    radial = x * x + y * y
    c0, cx, cy, cr = (g[:, None, None] for g in estimate.gradient)
    return c0 + cx * x + cy * y + cr * radial


_ESTIMATE_FIELDS = ("color", "spread", "noise", "pixel_noise", "coverage", "gradient")


def _background_holes(enclosed: np.ndarray, d_small: np.ndarray, strict: float, block: int) -> np.ndarray:
    """Enclosed regions that show the background: they hold a block of near-exact key colour.

    A region becomes transparent only if it contains a block x block square (about 4x4 px at 512)
    whose every pixel is within `strict` of the background. Subject pixels that are merely close to
    the key colour, or in specks, stay opaque.
    """
    if not enclosed.any():
        return enclosed
    seeds = block_corners(enclosed & (d_small < strict * strict), block)
    if not seeds.any():
        return np.zeros(enclosed.shape, dtype=bool)
    return reconstruct(enclosed, seeds)


def _core_means(
    rgb: np.ndarray, core: np.ndarray, ys: np.ndarray, xs: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean colour of the `core` pixels in the (2r+1)^2 window around each given pixel, and their count.

    The three channels and the count travel in the 16-bit lanes of one int64 per pixel (a window
    sum stays below 2^16, so no lane carries into the next). Row sums come from a running sum along
    each row (its wrap-around cancels in the difference), so each window row costs one gather over
    the band pixels only.
    """
    if radius > 7:
        raise ValueError("window too large for 16-bit lanes")
    h, w = core.shape
    # Only the box around the given pixels (plus the window) is packed.
    y0, y1 = max(int(ys.min()) - radius, 0), min(int(ys.max()) + radius + 1, h)
    x0, x1 = max(int(xs.min()) - radius, 0), min(int(xs.max()) + radius + 1, w)
    box_rgb, box_core = rgb[y0:y1, x0:x1], core[y0:y1, x0:x1]
    width = x1 - x0
    # Rows padded by the window above and below; columns by the window plus one leading zero.
    lanes = np.zeros((y1 - y0 + 2 * radius, width + 2 * radius + 1, 4), dtype=np.uint16)
    inner = lanes[radius : radius + y1 - y0, radius + 1 : radius + 1 + width]
    np.multiply(box_rgb, box_core[..., None], out=inner[..., :3])
    inner[..., 3] = box_core
    running = np.cumsum(lanes.view(np.int64)[..., 0], axis=1)
    row_sums = (running[:, 2 * radius + 1 :] - running[:, :width]).ravel()  # (2r+1)-wide, centred
    base = (ys - y0 + radius) * width + (xs - x0)
    total = np.zeros(ys.shape, dtype=np.int64)
    for dy in range(-radius, radius + 1):
        total += row_sums.take(base + dy * width)
    sums = total[:, None].view(np.uint16).astype(np.float32)
    count = sums[:, 3]
    return sums[:, :3] / np.maximum(count, 1.0)[:, None], count


def _strongest_neighbour(
    rgb: np.ndarray, subject: np.ndarray, key: np.ndarray, ys: np.ndarray, xs: np.ndarray
) -> np.ndarray:
    """For thin parts with no solid interior nearby: the colour of the subject pixel within 2 px
    that differs most from the key (the middle of a thin line)."""
    h, w = subject.shape
    level = np.rint(np.asarray(key, dtype=np.float64)).astype(np.int32)
    rows = [np.clip(ys + dy, 0, h - 1) * w for dy in range(-2, 3)]
    cols = [np.clip(xs + dx, 0, w - 1) for dx in range(-2, 3)]
    flat_rgb, flat_subject = rgb.reshape(-1, 3), subject.ravel()
    best = np.full(ys.shape, -2, dtype=np.int32)
    best_at = np.zeros(ys.shape, dtype=np.int64)
    for row in rows:
        for col in cols:
            at = row + col
            offset = flat_rgb.take(at, axis=0).astype(np.int32) - level
            candidate = np.where(flat_subject.take(at), (offset * offset).sum(axis=1, dtype=np.int32), -1)
            better = candidate > best
            np.copyto(best, candidate, where=better)
            np.copyto(best_at, at, where=better)
    return flat_rgb.take(best_at, axis=0).astype(np.float32)


def _soft_edges(
    rgb: np.ndarray, subject: np.ndarray, key: np.ndarray, estimate: BackgroundEstimate, reach: int
) -> np.ndarray:
    """Alpha and colour for the pixels within `reach` px of the subject/background boundary."""
    h, w = subject.shape
    background = ~subject
    near_background = dilate(background, reach)
    band = (subject & near_background) | (background & dilate(subject, reach))
    core = subject & ~near_background

    opaque = Image.fromarray(rgb)
    opaque.putalpha(Image.fromarray(subject.view(np.uint8) * np.uint8(255)))
    out = np.array(opaque)  # RGB + alpha interleaved by Pillow: cheaper than a strided numpy copy
    ys, xs = np.nonzero(band)
    if ys.size:
        fg_colour, count = _core_means(rgb, core, ys, xs, reach + CORE_WINDOW - EDGE_BAND)
        thin = count < 0.5
        if thin.any():
            fg_colour[thin] = _strongest_neighbour(rgb, subject, key, ys[thin], xs[thin])

        colour = rgb[ys, xs].astype(np.float32)
        local_key = estimate.colour_at(ys, xs, (h, w))
        direction = fg_colour - local_key
        contrast2 = (direction * direction).sum(axis=1)
        contrast = np.sqrt(contrast2)
        offset = colour - local_key
        mix = (offset * direction).sum(axis=1) / np.maximum(contrast2, 1e-6)
        residual = np.sqrt(((offset - mix[:, None] * direction) ** 2).sum(axis=1))
        in_subject = subject[ys, xs]
        noise = max(estimate.pixel_noise, 4.0)
        # A subject pixel that is not a blend of key and subject colour (a detail of another colour
        # near the edge) keeps its own colour and stays opaque.
        explained = residual <= np.maximum(0.35 * contrast, 3.0 * noise)
        usable = (contrast > 2.0 * noise) & (explained | ~in_subject)
        floor = np.minimum(0.25, noise / np.maximum(contrast, 1e-6))
        soft = np.clip((mix - floor) / np.maximum(1.0 - 2.0 * floor, 0.5), 0.0, 1.0)
        new_alpha = np.where(usable, soft, in_subject.astype(np.float32))
        blended = usable & (new_alpha < 0.999)
        new_colour = np.where(blended[:, None], fg_colour, colour)
        out[ys, xs, :3] = np.clip(np.rint(new_colour), 0, 255).astype(np.uint8)
        out[ys, xs, 3] = np.rint(new_alpha * 255.0).astype(np.uint8)
    return out


def _has_hue(key: np.ndarray) -> bool:
    return float(key.max() - key.min()) >= SPILL_MIN_CHROMA


def _hue_direction(key: np.ndarray) -> np.ndarray:
    """Unit vector of the key's hue: its colour minus its grey level."""
    chroma = key - key.mean()
    return (chroma / max(float(np.linalg.norm(chroma)), 1e-6)).astype(np.float32)


def _lean(pixels: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """How far each pixel's colour leans toward the key hue (HxW float32). The hue direction sums to
    zero, so the pixel's grey level drops out and a plain dot product suffices."""
    h, w = pixels.shape[:2]
    flat = pixels.reshape(-1, 3).astype(np.float32)
    return (flat @ unit).reshape(h, w)


def _box_mean_where(values: np.ndarray, weight: np.ndarray, radius: int) -> np.ndarray:
    """Mean of `values` over the `weight` pixels in each (2r+1)^2 window; 0 where there are none."""

    total = box_sum(np.where(weight, values, 0.0).astype(np.float32), radius)
    count = box_sum(weight.astype(np.float32), radius)
    return np.where(count > 0, total / np.maximum(count, 1.0), 0.0).astype(np.float32)


def _interior_lean(small: np.ndarray, subject: np.ndarray, key: np.ndarray, depth: int) -> np.ndarray:
    """How far the subject's own colour, away from its edge, leans toward the key hue (reduced grid).

    Edge pixels may keep that much of the hue, so a yellow subject on a green screen stays yellow;
    only the excess is spill.
    """
    lean = _lean(small, _hue_direction(key))
    return _box_mean_where(lean, erode(subject, depth), radius=SPILL_BAND + 1)


def _remove_spill(rgba: np.ndarray, key: np.ndarray, interior_lean: np.ndarray, factor: int) -> None:
    """Take the key's hue out of the subject (in place), e.g. the green cast along the edges after a
    green screen or a key-coloured sliver left in a tight corner, down to the hue the subject's
    interior has nearby (so a yellow subject stays yellow)."""
    h, w = rgba.shape[:2]
    unit = _hue_direction(key)
    lean = _lean(rgba[..., :3], unit)
    allowed = np.maximum(interior_lean, 0.0)
    if factor > 1:
        allowed = np.repeat(np.repeat(allowed, factor, axis=0), factor, axis=1)[:h, :w]
    zy, zx = np.nonzero((lean > allowed + 1.0) & (rgba[..., 3] > 0))
    if zy.size == 0:
        return
    excess = lean[zy, zx] - allowed[zy, zx]
    cleaned = rgba[zy, zx, :3].astype(np.float32) - excess[:, None] * unit[None, :]
    rgba[zy, zx, :3] = np.clip(np.rint(cleaned), 0, 255).astype(np.uint8)


def _keep_whole(rgb: np.ndarray) -> np.ndarray:
    """The documented fallback: the whole image as an opaque card with anti-aliased round corners."""
    h, w = rgb.shape[:2]
    radius = max(2.0, 0.06 * min(h, w))
    alpha = np.ones((h, w), dtype=np.float32)
    r = int(np.ceil(radius))
    yy, xx = np.mgrid[0:r, 0:r].astype(np.float32)
    dist = np.hypot(radius - 0.5 - yy, radius - 0.5 - xx)
    corner = np.clip(radius - dist + 0.5, 0.0, 1.0)
    corner = np.where((yy < radius) & (xx < radius), corner, 1.0)
    r = min(r, h, w)
    corner = corner[:r, :r]
    alpha[:r, :r] = np.minimum(alpha[:r, :r], corner)
    alpha[:r, w - r :] = np.minimum(alpha[:r, w - r :], corner[:, ::-1])
    alpha[h - r :, :r] = np.minimum(alpha[h - r :, :r], corner[::-1, :])
    alpha[h - r :, w - r :] = np.minimum(alpha[h - r :, w - r :], corner[::-1, ::-1])
    return np.dstack([rgb, np.rint(alpha * 255).astype(np.uint8)])
