"""Cut a generated clip (RGB frames on a plain background) out as one sticker animation.

Per-frame keying makes edges flicker: each frame would measure its own background colour, choose
its own threshold and be laid out around its own box. Here the whole clip shares one background key
(measured on all frames' borders together) and one layout (the union of the frames' boxes), and the
alpha is smoothed over time (a circular [1, 2, 1] / 4 filter, since the clip loops) before the
outline is drawn, so an edge pixel changes only as fast as the subject really moves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from generator.animation.motion import CANVAS, Clip
from generator.postprocess.background import estimate_background, key_background
from generator.postprocess.effects import add_outline
from generator.postprocess.errors import NoSubject
from generator.postprocess.layout import subject_box
from generator.postprocess.options import StickerOptions
from generator.postprocess.pipeline import layout_padding


def clip_background(frames: Sequence[np.ndarray], tolerance: float) -> tuple[float, float, float]:
    """One key colour for the clip: the background estimated on all frames side by side."""
    return estimate_background(np.concatenate(list(frames), axis=1), tolerance).color


def smooth_alpha(alphas: np.ndarray, passes: int = 1) -> np.ndarray:
    """Circular [1, 2, 1] / 4 filter over time of an N x H x W uint8 alpha stack (N >= 3)."""
    if len(alphas) < 3 or passes <= 0:
        return alphas
    a = alphas.astype(np.float32)
    for _ in range(passes):
        a = 0.25 * np.roll(a, 1, axis=0) + 0.5 * a + 0.25 * np.roll(a, -1, axis=0)
    return np.rint(a).astype(np.uint8)


def cut_clip(
    frames: Sequence[Image.Image],
    fps: float,
    options: StickerOptions | None = None,
    *,
    smoothing: int = 1,
    canvas: int = CANVAS,
) -> Clip:
    """RGB frames → a looping RGBA clip on a `canvas` square: one key, one layout, smoothed alpha."""
    options = options or StickerOptions()
    rgb = [np.asarray(f.convert("RGB")) for f in frames]
    key = clip_background(rgb, options.tolerance)
    keyed_options = StickerOptions(
        background=tuple(round(c) for c in key),  # type: ignore[arg-type]
        tolerance=options.tolerance,
        holes=options.holes,
        on_no_background="keep",
        outline=0,
    )
    rgba = np.stack([key_background(f, keyed_options).rgba for f in rgb])
    rgba[..., 3] = smooth_alpha(rgba[..., 3], smoothing)

    images = [Image.fromarray(f, "RGBA") for f in rgba]
    boxes = [b for b in (subject_box(im) for im in images) if b is not None]
    if not boxes:
        raise NoSubject("Nothing is left once the background is removed.")
    box = (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
    pad = layout_padding(options)
    inner = canvas - 2 * pad
    width, height = box[2] - box[0], box[3] - box[1]
    scale = inner / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    at = ((canvas - size[0]) // 2, (canvas - size[1]) // 2)
    out = []
    for image in images:
        part = image.crop(box)
        if part.size != size:
            resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC
            part = part.resize(size, resample)
        frame = Image.new("RGBA", (canvas, canvas), (0, 0, 0, 0))
        frame.paste(part, at)
        out.append(add_outline(frame, options.outline, options.outline_color))
    return Clip(frames=tuple(out), fps=fps, motion="diffusion")
