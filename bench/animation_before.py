"""The motion-preset frame loop as it was before band-limited resampling (2026-11-30), kept only so
`python -m bench.animation` can time it side by side with `generator.animation.motion.animate`: one
Pillow affine transform over each frame's whole moved box, every frame drawn."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from generator.animation.motion import (
    CANVAS,
    DEFAULT_FPS,
    MARGIN_PX,
    MAX_DURATION_S,
    MIN_DURATION_S,
    Clip,
    _alpha_box,
    _matrix,
    resolve_motion,
)


def animate_before(
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
    place = np.eye(3)
    place[:2, 2] = origin

    box = np.array([[0, sw, sw, 0], [0, 0, sh, sh], [1, 1, 1, 1]], dtype=float)
    frames = []
    for pose in poses:
        forward = _matrix(pose, pivot, sh) @ place
        # resample only the moved box (plus the filter's reach), then paste it onto the empty canvas
        moved_box = (forward @ box)[:2]
        x0, y0 = (max(0, math.floor(v) - 2) for v in moved_box.min(axis=1))
        x1, y1 = (min(canvas, math.ceil(v) + 2) for v in moved_box.max(axis=1))
        shift = np.eye(3)
        shift[:2, 2] = (-x0, -y0)
        inverse = np.linalg.inv(shift @ forward)
        part = crop.transform(
            (x1 - x0, y1 - y0), Image.Transform.AFFINE, tuple(inverse[:2].ravel()), resample=resample
        )
        frame = Image.new("RGBA", (canvas, canvas))
        frame.paste(part.convert("RGBA"), (x0, y0))
        frames.append(frame)
    return Clip(frames=tuple(frames), fps=float(fps), motion=preset.name)
