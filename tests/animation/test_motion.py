"""Motion presets: every preset loops seamlessly, keeps alpha, never touches the canvas edge."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from generator.animation.motion import CANVAS, MARGIN_PX, PRESETS, UnknownMotion, animate, resolve_motion
from tests.animation.helpers import alphas, loop_changes


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_loops_without_clipping(finished_sticker: Image.Image, name: str) -> None:
    clip = animate(finished_sticker, name, fps=24)
    a = alphas(clip.frames)
    assert clip.size == (CANVAS, CANVAS)
    assert len(clip.frames) == round(PRESETS[name].duration_s * 24)
    assert all(f.mode == "RGBA" for f in clip.frames)
    # nothing clipped: the outer rows and columns stay empty in every frame
    edge = MARGIN_PX - 1
    assert a[:, :edge].max() == 0 and a[:, -edge:].max() == 0
    assert a[:, :, :edge].max() == 0 and a[:, :, -edge:].max() == 0
    # it moves, and the seam (last → first) is no bigger a step than the largest inside the loop
    inner, seam = loop_changes(a)
    assert max(inner) > 0.01
    assert seam <= max(inner) * 1.05 + 1e-3
    # transparent background and opaque body in every frame
    assert (a < 0.02).any(axis=(1, 2)).all() and (a > 0.98).any(axis=(1, 2)).all()


@pytest.mark.parametrize("name", ["wave", "shake", "float", "spin", "wiggle"])
def test_rigid_motions_preserve_alpha_and_outline(finished_sticker: Image.Image, name: str) -> None:
    """Rotations and shifts keep the sticker's coverage and its white outline (the outline moves with it)."""
    clip = animate(finished_sticker, name)
    a = alphas(clip.frames)
    mass = a.sum(axis=(1, 2))
    assert mass.max() / mass.min() < 1.03
    rgb = np.stack([np.asarray(f)[..., :3] for f in clip.frames]).astype(int)
    white_outline = ((rgb.min(axis=-1) > 235) & (a > 0.9)).sum(axis=(1, 2))
    assert white_outline.min() > 0.8 * white_outline.max() > 0


def test_sub_pixel_motion_follows_an_eased_curve(finished_sticker: Image.Image) -> None:
    """A slow float: the centre of mass moves by fractions of a pixel along a sine (eased at the turns)."""
    clip = animate(finished_sticker, "float", fps=30, duration_s=3.0)
    a = alphas(clip.frames)
    ys = np.arange(a.shape[1], dtype=np.float64)
    centre_y = (a.sum(axis=2) * ys).sum(axis=1) / a.sum(axis=(1, 2))
    steps = np.abs(np.diff(np.append(centre_y, centre_y[0])))
    assert 0 < steps.max() < 2.0
    assert np.count_nonzero(steps < 0.5) >= 10  # sub-pixel steps near the turning points
    phase = 2 * np.pi * np.arange(len(a)) / len(a)
    assert abs(np.corrcoef(centre_y, -np.sin(phase))[0, 1]) > 0.99


def test_no_dark_fringe_from_resampling(finished_sticker: Image.Image) -> None:
    """Premultiplied resampling: semi-transparent edge pixels of a white outline stay light."""
    clip = animate(finished_sticker, "spin")
    frame = np.asarray(clip.frames[3]).astype(int)
    edge = (frame[..., 3] > 20) & (frame[..., 3] < 200)
    assert edge.any()
    assert frame[..., :3][edge].mean() > 180


def test_names_aliases_and_errors(finished_sticker: Image.Image) -> None:
    assert resolve_motion("Heartbeat").name == "pulse"
    assert resolve_motion("squash_and_stretch").name == "squash"
    with pytest.raises(UnknownMotion, match="Unknown motion 'moonwalk'"):
        resolve_motion("moonwalk")
    with pytest.raises(ValueError, match="Duration"):
        animate(finished_sticker, "bounce", duration_s=4.0)
    with pytest.raises(ValueError, match="fully transparent"):
        animate(Image.new("RGBA", (512, 512)), "bounce")


def test_non_square_and_small_inputs_fill_a_square_canvas() -> None:
    sticker = Image.new("RGBA", (512, 200), (0, 0, 0, 0))
    sticker.paste((200, 40, 40, 255), (10, 10, 502, 190))
    clip = animate(sticker, "bounce", fps=12)
    assert clip.size == (CANVAS, CANVAS) and len(clip.frames) == 12
