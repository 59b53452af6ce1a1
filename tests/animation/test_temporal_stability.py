"""Temporal stability of cut-out clips on a synthetic sprite (issue 16, §5).

Edges of a cut-out clip must change only as much as the subject moves: the mean |Δalpha| along the
edge between consecutive frames stays within a bound set by the true motion, a still subject under
per-frame noise barely flickers, and the loop seam is no worse than any other frame pair.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from generator.animation.clip_cutout import cut_clip, smooth_alpha
from tests.animation.conftest import moving_sprite_frames
from tests.animation.helpers import alphas, loop_changes


def test_moving_sprite_edges_follow_the_motion_and_the_seam_is_smooth() -> None:
    frames, _ = moving_sprite_frames(count=12, radius_px=1.0)
    clean, _ = moving_sprite_frames(count=12, radius_px=1.0, noise=0.0)
    inner, seam = loop_changes(alphas(cut_clip(frames, fps=8.0).frames))
    # the same motion without noise or smoothing: how much the edge must change
    reference, _ = loop_changes(alphas(cut_clip(clean, fps=8.0, smoothing=0).frames))
    assert np.mean(inner) <= 1.15 * np.mean(reference)
    assert max(inner) <= 0.25
    assert seam <= max(inner) * 1.05 + 1e-3


def test_still_sprite_under_noise_barely_flickers() -> None:
    frames, _ = moving_sprite_frames(count=1)
    base = np.asarray(frames[0]).astype(np.float32)
    rng = np.random.default_rng(5)
    noisy = [
        Image.fromarray(np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8))
        for _ in range(12)
    ]
    smoothed = loop_changes(alphas(cut_clip(noisy, fps=8.0).frames))
    raw = loop_changes(alphas(cut_clip(noisy, fps=8.0, smoothing=0).frames))
    assert np.mean(smoothed[0]) < 0.006
    assert np.mean(smoothed[0]) < 0.6 * np.mean(raw[0])  # the temporal filter removes most flicker


def test_one_key_and_one_layout_for_the_whole_clip() -> None:
    frames, _ = moving_sprite_frames(count=8, radius_px=3.0)
    clip = cut_clip(frames, fps=8.0)
    assert {f.size for f in clip.frames} == {(512, 512)} and clip.motion == "diffusion"
    a = alphas(clip.frames)
    assert a[:, :4].max() == 0 and a[:, -4:].max() == 0  # the union layout keeps every frame inside
    assert (a > 0.98).any(axis=(1, 2)).all() and (a < 0.02).any(axis=(1, 2)).all()


def test_smooth_alpha_is_circular() -> None:
    stack = np.zeros((4, 1, 1), np.uint8)
    stack[0] = 200
    out = smooth_alpha(stack)
    assert out[:, 0, 0].tolist() == [100, 50, 0, 50]
