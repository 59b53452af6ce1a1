"""The preset frame loop resamples only the bands the sprite can reach (and uses `Image.resize` for poses
without rotation): every frame must match resampling the whole canvas with one affine transform."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bench.animation_before import animate_before
from generator.animation.motion import PRESETS, animate


@pytest.mark.parametrize("name", list(PRESETS))
def test_frames_match_the_whole_canvas_transform(finished_sticker: Image.Image, name: str) -> None:
    now = animate(finished_sticker, name, fps=12, duration_s=1.0)
    before = animate_before(finished_sticker, name, fps=12, duration_s=1.0)
    assert len(now.frames) == len(before.frames) == 12
    for i, (a, b) in enumerate(zip(now.frames, before.frames, strict=True)):
        alpha_now = np.asarray(a.getchannel("A"), dtype=np.int16)
        alpha_before = np.asarray(b.getchannel("A"), dtype=np.int16)
        # nothing the whole-canvas transform draws is left out of a band (no missing pixels)
        missing = (alpha_before > 2) & (alpha_now == 0)  # 1-2: rounding of the band-shifted affine
        assert not missing.any(), f"{name} frame {i}: {int(missing.sum())} pixels left out"
        assert np.abs(alpha_now - alpha_before).mean() < 0.5, f"{name} frame {i}"
        # the same picture: resize (antialiased when shrinking) and transform differ only slightly
        rgb_now = np.asarray(a.convert("RGBa"), dtype=np.int16)
        rgb_before = np.asarray(b.convert("RGBa"), dtype=np.int16)
        assert np.abs(rgb_now - rgb_before).mean() < 1.0, f"{name} frame {i}"
