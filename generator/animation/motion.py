"""Motion presets: a looping clip from one finished static sticker (RGBA), no model needed.

Every preset is a periodic affine motion `phase -> (dx, dy, angle, sx, sy)` about a pivot on the
sticker's bounding box, so frame i of n uses phase i/n and the last frame flows into the first.
Offsets are fractions of the sticker's height and the pivot is relative to its box, which makes the
motion scale-invariant: the envelope of the moving box over the whole loop is measured once, and the
sticker is scaled (antialiased, once) so that envelope fits the canvas. Frames are resampled with
premultiplied alpha at sub-pixel positions, so the outline moves with the character and edges do not
darken. Pure numpy/Pillow: no torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

CANVAS = 512
MARGIN_PX = 3  # bicubic resampling spreads about 2 px past the moved box
DEFAULT_FPS = 24
MAX_DURATION_S = 3.0  # Telegram video stickers
MIN_DURATION_S = 0.5


@dataclass(frozen=True, slots=True)
class Pose:
    """One frame's motion: offsets in sticker heights, angle in degrees (counter-clockwise), scales."""

    dx: float = 0.0
    dy: float = 0.0
    angle: float = 0.0
    sx: float = 1.0
    sy: float = 1.0


@dataclass(frozen=True, slots=True)
class Clip:
    """Frames of one animation (RGBA, same size) played at `fps`, looping."""

    frames: tuple[Image.Image, ...]
    fps: float
    motion: str = ""

    @property
    def duration_s(self) -> float:
        return len(self.frames) / self.fps

    @property
    def size(self) -> tuple[int, int]:
        return self.frames[0].size


def _tau(t: float) -> float:
    return 2.0 * math.pi * t


def _bump(t: float, centre: float, width: float) -> float:
    """A smooth periodic bump at `centre` (distance wraps around the loop)."""
    d = (t - centre + 0.5) % 1.0 - 0.5
    return math.exp(-((d / width) ** 2))


def _ease_out_back(x: float, overshoot: float = 1.70158) -> float:
    x -= 1.0
    return 1.0 + (overshoot + 1.0) * x**3 + overshoot * x**2


def _ease_in_out(x: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * min(max(x, 0.0), 1.0))


def _bounce(t: float) -> Pose:
    height = 4.0 * t * (1.0 - t)  # a parabola: gravity, touching the ground at the loop seam
    squash = 0.12 * _bump(t, 0.0, 0.07)
    return Pose(dy=-0.16 * height, sx=1.0 + squash, sy=1.0 - squash)


def _wiggle(t: float) -> Pose:
    return Pose(angle=7.0 * math.sin(_tau(2 * t)), dx=0.015 * math.sin(_tau(2 * t)))


def _shake(t: float) -> Pose:
    return Pose(dx=0.035 * math.sin(_tau(6 * t)), angle=2.5 * math.sin(_tau(6 * t) + 1.3))


def _pulse(t: float) -> Pose:
    beat = _bump(t, 0.15, 0.06) + 0.6 * _bump(t, 0.38, 0.06)  # heartbeat: lub-dub, rest
    s = 1.0 + 0.1 * beat
    return Pose(sx=s, sy=s)


def _wave(t: float) -> Pose:
    return Pose(angle=11.0 * math.sin(_tau(t)))


def _float(t: float) -> Pose:
    # the sway follows the height (in phase), so rising and falling share poses: half the frames to draw
    phase = math.sin(_tau(t))
    return Pose(dy=-0.05 * phase, angle=3.0 * phase)


def _pop_in(t: float) -> Pose:
    low = 0.15
    if t < 0.35:
        s = low + (1.0 - low) * _ease_out_back(t / 0.35)
    elif t < 0.8:
        s = 1.0
    else:
        s = 1.0 - (1.0 - low) * _ease_in_out((t - 0.8) / 0.2)
    return Pose(sx=s, sy=s)


def _squash_stretch(t: float) -> Pose:
    k = 0.1 * math.sin(_tau(2 * t))
    return Pose(sx=1.0 - k, sy=1.0 + k)


def _spin(t: float) -> Pose:
    return Pose(angle=-360.0 * t)


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    pose: Callable[[float], Pose]
    pivot: tuple[float, float]  # on the sticker's box: (0, 0) top-left, (1, 1) bottom-right
    duration_s: float
    description: str


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("bounce", _bounce, (0.5, 1.0), 1.0, "hops up and lands with a squash"),
        Preset("wiggle", _wiggle, (0.5, 1.0), 1.0, "rocks side to side"),
        Preset("shake", _shake, (0.5, 0.5), 1.0, "shakes quickly"),
        Preset("pulse", _pulse, (0.5, 0.5), 1.0, "beats like a heart"),
        Preset("wave", _wave, (0.5, 1.0), 1.5, "sways about its base"),
        Preset("float", _float, (0.5, 0.5), 2.0, "floats up and down"),
        Preset("pop-in", _pop_in, (0.5, 0.5), 1.5, "pops in, stays, shrinks away"),
        Preset("squash", _squash_stretch, (0.5, 1.0), 1.0, "squashes and stretches"),
        Preset("spin", _spin, (0.5, 0.5), 2.0, "spins around"),
    )
}
ALIASES = {"heartbeat": "pulse", "squash-and-stretch": "squash", "popin": "pop-in", "pop": "pop-in"}


class UnknownMotion(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Unknown motion '{name}'. Motions: {', '.join(PRESETS)}.")


def motion_names() -> list[str]:
    return list(PRESETS)


def resolve_motion(name: str) -> Preset:
    key = name.strip().lower().replace("_", "-")
    key = ALIASES.get(key, key)
    if key not in PRESETS:
        raise UnknownMotion(name)
    return PRESETS[key]


def _matrix(pose: Pose, pivot: np.ndarray, unit: float) -> np.ndarray:
    """Forward 3x3 affine (source -> canvas) of one pose about `pivot`; `unit` = sticker height in px."""
    a = math.radians(pose.angle)
    c, s = math.cos(a), math.sin(a)
    # y grows downwards, so a counter-clockwise angle is [[c, s], [-s, c]] in image coordinates
    linear = np.array([[c, s], [-s, c]]) @ np.diag([pose.sx, pose.sy])
    m = np.eye(3)
    m[:2, :2] = linear
    m[:2, 2] = pivot - linear @ pivot + np.array([pose.dx, pose.dy]) * unit
    return m


def _alpha_box(image: Image.Image) -> tuple[int, int, int, int]:
    box = image.getchannel("A").point(lambda v: 255 if v > 8 else 0).getbbox()
    if box is None:
        raise ValueError("The sticker is fully transparent: nothing to animate.")
    return box


def animate(
    sticker: Image.Image,
    motion: str,
    *,
    fps: float = DEFAULT_FPS,
    duration_s: float | None = None,
    canvas: int = CANVAS,
    resample: Image.Resampling = Image.Resampling.BILINEAR,
) -> Clip:
    """Animate a finished RGBA sticker with a preset; returns a seamless loop on a square canvas."""
    preset = resolve_motion(motion)
    duration = preset.duration_s if duration_s is None else duration_s
    if not MIN_DURATION_S <= duration <= MAX_DURATION_S:
        raise ValueError(f"Duration must be {MIN_DURATION_S}-{MAX_DURATION_S} s.")
    if not 1 <= fps <= 60:
        raise ValueError("fps must be 1-60.")
    count = max(2, round(duration * fps))
    rgba = sticker.convert("RGBA") if sticker.mode != "RGBA" else sticker
    left, top, right, bottom = _alpha_box(rgba)
    w, h = right - left, bottom - top
    poses = [preset.pose(i / count) for i in range(count)]

    # envelope of the moving box at scale 1 (box centred on the origin), then one scale that fits it
    corners = np.array([[-w / 2, -h / 2, 1], [w / 2, -h / 2, 1], [w / 2, h / 2, 1], [-w / 2, h / 2, 1]]).T
    pivot1 = np.array([(preset.pivot[0] - 0.5) * w, (preset.pivot[1] - 0.5) * h])
    moved = np.concatenate([(_matrix(p, pivot1, h) @ corners)[:2] for p in poses], axis=1)
    lo, hi = moved.min(axis=1), moved.max(axis=1)
    room = canvas - 2 * MARGIN_PX
    k = min(1.0, room / (hi[0] - lo[0]), room / (hi[1] - lo[1]))

    # place the (antialiased, once) scaled sticker so the scaled envelope is centred on the canvas
    sw, sh = max(1, round(w * k)), max(1, round(h * k))
    crop = rgba.crop((left, top, right, bottom)).convert("RGBa")
    if (sw, sh) != (w, h):
        crop = crop.resize((sw, sh), Image.Resampling.LANCZOS)
    kx, ky = sw / w, sh / h
    env_centre = (lo + hi) / 2 * np.array([kx, ky])
    centre = np.array([canvas / 2, canvas / 2]) - env_centre  # where the box centre sits at rest
    origin = centre - np.array([sw / 2, sh / 2])  # the crop's top-left at rest
    pivot = origin + np.array([preset.pivot[0] * sw, preset.pivot[1] * sh])
    # a transparent border lets the translate-and-scale path (`Image.resize` with a source box) read
    # past the sprite's box without leaving the image
    padded = Image.new("RGBa", (sw + 2 * PAD_PX, sh + 2 * PAD_PX))
    padded.paste(crop, (PAD_PX, PAD_PX))
    place = np.eye(3)
    place[:2, 2] = origin - PAD_PX

    cover = _Coverage(padded)
    frames: list[Image.Image] = []
    # Periodic motions repeat poses (a shake has 4 in 24 frames, up to float noise): each is drawn once.
    # Frames are shared, never changed in place (as `encode` picks frames). A frame is not shared with
    # the one before it unless their poses are exactly equal: GIF/WebP/APNG writers merge identical
    # consecutive frames, and nearly equal poses (a pulse at rest) used to give nearly equal frames.
    drawn: dict[tuple[float, ...], Image.Image] = {}
    previous: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    for pose in poses:
        forward = _matrix(pose, pivot, sh) @ place
        exact = tuple(forward[:2].ravel())
        key = tuple(np.round(forward[:2].ravel(), 9))
        if key not in drawn or (previous is not None and previous[1] == key and previous[0] != exact):
            drawn[key] = _draw(padded, forward, cover, canvas, resample)
        frames.append(drawn[key])
        previous = (exact, key)
    return Clip(frames=tuple(frames), fps=float(fps), motion=preset.name)


PAD_PX = 12
CELL = 8  # source cells of the coarse coverage map
BAND = 16  # output rows resampled per call
GAP = 24  # a transparent gap in a band narrower than this is resampled anyway
NEAR_ONE = 1e-4


class _Coverage:
    """Which CELL x CELL cells of the (premultiplied) sprite have any alpha. Moved with a frame's affine,
    they bound the output pixels that can be non-transparent, so each band of output rows is resampled
    only between its leftmost and rightmost reachable pixel: the transparent rest of the moved box
    (about a third of it for a typical character) is skipped."""

    def __init__(self, sprite: Image.Image) -> None:
        alpha = np.asarray(sprite.getchannel(3))
        h, w = alpha.shape
        gh, gw = -(-h // CELL), -(-w // CELL)
        grid = np.zeros((gh * CELL, gw * CELL), dtype=bool)
        grid[:h, :w] = alpha > 0
        ys, xs = np.nonzero(grid.reshape(gh, CELL, gw, CELL).any(axis=(1, 3)))
        self.centres = np.stack([(xs + 0.5) * CELL, (ys + 0.5) * CELL, np.ones(len(xs))])

    def bands(self, forward: np.ndarray, canvas: int) -> list[tuple[int, int, int, int]]:
        """Boxes (x0, y0, x1, y1), one per band of BAND output rows, covering every output pixel the
        sprite can reach through `forward` (source -> canvas)."""
        if not self.centres.shape[1]:
            return []
        centres = (forward @ self.centres)[:2]
        # a cell grown by the resampling filter's reach (2 source px for bicubic) moves to a
        # parallelogram; its bounding box, plus a pixel for rounding:
        reach = (np.abs(forward[:2, 0]) + np.abs(forward[:2, 1])) * (CELL / 2 + 2.0) + 1.0
        x0 = np.clip(np.floor(centres[0] - reach[0]), 0, canvas).astype(np.int64)
        x1 = np.clip(np.ceil(centres[0] + reach[0]), 0, canvas).astype(np.int64)
        y0 = np.clip(np.floor(centres[1] - reach[1]), 0, canvas).astype(np.int64)
        y1 = np.clip(np.ceil(centres[1] + reach[1]), 0, canvas).astype(np.int64)
        keep = (x1 > x0) & (y1 > y0)
        x0, x1, y0, y1 = x0[keep], x1[keep], y0[keep], y1[keep]
        first, last = y0 // BAND, (y1 - 1) // BAND
        bands = -(-canvas // BAND)
        # per band, the covered columns (a difference array over all bands at once), then its runs
        stride = canvas + 2
        opens, closes = [], []
        for k in range(int((last - first).max(initial=0)) + 1):  # the bands each cell's box spans
            band = first + k
            inside = band <= last
            opens.append(band[inside] * stride + x0[inside] + 1)
            closes.append(band[inside] * stride + x1[inside] + 1)
        size = bands * stride
        edges = np.bincount(np.concatenate(opens), minlength=size) - np.bincount(
            np.concatenate(closes), minlength=size
        )
        covered = np.cumsum(edges.reshape(bands, stride), axis=1) > 0
        covered[:, 0] = covered[:, -1] = False  # a run never crosses into the next band
        change = np.flatnonzero(np.diff(covered.ravel().astype(np.int8)))
        starts, ends = change[0::2] + 1, change[1::2] + 1  # flat [start, end) of each run
        # bridge narrow transparent gaps inside a band: one call costs about as much as GAP columns
        bridge = (starts[1:] - ends[:-1] < GAP) & (starts[1:] // stride == ends[:-1] // stride)
        starts = starts[np.concatenate([[True], ~bridge])]
        ends = ends[np.concatenate([~bridge, [True]])]
        rows, x_start, x_end = starts // stride, starts % stride - 1, ends % stride - 1
        return [
            (int(a), int(b) * BAND, int(c), min(canvas, (int(b) + 1) * BAND))
            for a, b, c in zip(x_start, rows, x_end, strict=True)
        ]


def _draw(
    sprite: Image.Image, forward: np.ndarray, cover: _Coverage, canvas: int, resample: Image.Resampling
) -> Image.Image:
    """One frame: the premultiplied sprite resampled through `forward` (source -> canvas) into the
    reachable bands of an empty canvas, then un-premultiplied once. Poses without rotation or shear
    (translate and scale: bounce, pulse, pop-in, squash) use `Image.resize` with a sub-pixel source
    box: separable fixed-point filtering, about 2.5x faster than the affine transform and antialiased
    when shrinking. Bands are written through Pillow's core image (`Image.im`, what `Image.transform`
    and `Image.paste` call) so that each band costs no Python-level image objects."""
    frame = Image.new("RGBa", (canvas, canvas))
    inverse = np.linalg.inv(forward)
    a, b, c, d, e, f = (float(v) for v in inverse[:2].ravel())
    separable = (
        forward[0, 1] == 0.0
        and forward[1, 0] == 0.0
        and forward[0, 0] > 0
        and forward[1, 1] > 0
        # a scale a hair off 1 (a pulse at rest) goes through the transform as before: the fixed-point
        # resize would make such nearly equal frames exactly equal, and GIF/WebP/APNG writers merge those
        and all(v == 1.0 or abs(v - 1.0) > NEAR_ONE for v in (forward[0, 0], forward[1, 1]))
    )
    target = frame.im
    for x0, y0, x1, y1 in cover.bands(forward, canvas):
        box = (
            inverse[0, 0] * x0 + inverse[0, 2],
            inverse[1, 1] * y0 + inverse[1, 2],
            inverse[0, 0] * x1 + inverse[0, 2],
            inverse[1, 1] * y1 + inverse[1, 2],
        )
        if separable and box[0] >= 0 and box[1] >= 0 and box[2] <= sprite.width and box[3] <= sprite.height:
            target.paste(sprite.im.resize((x1 - x0, y1 - y0), resample, box), (x0, y0, x1, y1))
        else:  # the inverse affine with the band's origin (x0, y0) moved to (0, 0)
            data = (a, b, a * x0 + b * y0 + c, d, e, d * x0 + e * y0 + f)
            # into the band in place; fill=1: pixels mapped from outside the sprite become transparent
            target.transform((x0, y0, x1, y1), sprite.im, Image.Transform.AFFINE, data, resample, 1)
    return frame.convert("RGBA")
