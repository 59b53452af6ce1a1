"""Diffusion animations that start from the static sticker (image-to-video) on the tiny SDXL model with
the tiny random motion adapter: the first frame stays close to the static sticker, frames still differ,
a seed repeats, and bad strengths are refused."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError

from generator.animation.diffusion import ClipDiffuser, build_tiny_motion_adapter
from generator.options import ModelConfig
from generator.tiny import build_tiny_pipeline

SIZE = 128  # small frames keep the tiny model fast; the code path is the 512 px one
PROMPT = "waving otter"


@pytest.fixture(scope="module")
def diffuser() -> ClipDiffuser:
    return ClipDiffuser(build_tiny_pipeline(), build_tiny_motion_adapter())


def _static(diffuser: ClipDiffuser, seed: int) -> Image.Image:
    """The static sticker's image as the engine draws it (one CPU generator per image)."""
    with torch.inference_mode():
        return diffuser.base(
            prompt=[PROMPT],
            num_inference_steps=1,
            guidance_scale=0.0,
            width=SIZE,
            height=SIZE,
            generator=[torch.Generator().manual_seed(seed)],
        ).images[0]


def _clip(diffuser: ClipDiffuser, seed: int, **kw: object) -> list[Image.Image]:
    return diffuser.run(PROMPT, seed, style="tiny", width=SIZE, height=SIZE, **kw)  # type: ignore[arg-type]


def _diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


def test_clip_from_the_static_sticker_starts_near_it(diffuser: ClipDiffuser):
    static = _static(diffuser, 5)
    start = diffuser.static_latents(PROMPT, 5, width=SIZE, height=SIZE)
    clip = _clip(diffuser, 5, start=start, strength=0.6)
    assert len(clip) == 8 and clip[0].size == (SIZE, SIZE)
    other_seed = _clip(diffuser, 6)  # text-to-video, as before
    same_seed = _clip(diffuser, 5)
    near = _diff(clip[0], static)
    assert near < 0.5 * _diff(other_seed[0], static), (near, _diff(other_seed[0], static))
    assert near < 0.5 * _diff(same_seed[0], static)  # text-to-video from the same seed is no closer
    assert all(_diff(clip[i], static) < 0.5 * _diff(other_seed[i], static) for i in range(8))
    # the frames still move: each frame has its own noise and the motion layers mix them
    assert min(_diff(a, b) for a, b in itertools.pairwise(clip)) > 0.1
    # a smaller strength keeps more of the static sticker
    closer = _clip(diffuser, 5, start=start, strength=0.3)
    assert _diff(closer[0], static) < near


def test_clip_from_the_static_sticker_is_deterministic(diffuser: ClipDiffuser):
    start = diffuser.static_latents(PROMPT, 9, width=SIZE, height=SIZE)
    first = _clip(diffuser, 9, start=start, strength=0.6)
    again = _clip(diffuser, 9, start=start, strength=0.6)
    assert [np.asarray(f).tobytes() for f in first] == [np.asarray(f).tobytes() for f in again]
    other = _clip(diffuser, 10, start=start, strength=0.6)  # the seed also picks the noise
    assert _diff(first[3], other[3]) > 0


def test_strength_zero_is_text_to_video(diffuser: ClipDiffuser):
    start = diffuser.static_latents(PROMPT, 3, width=SIZE, height=SIZE)
    plain = _clip(diffuser, 3)
    off = _clip(diffuser, 3, start=start, strength=0.0)
    assert [np.asarray(f).tobytes() for f in plain] == [np.asarray(f).tobytes() for f in off]


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan, "lots"])
def test_bad_strengths_are_refused_by_the_config(bad: object):
    with pytest.raises(ValidationError, match="motion_from_static_strength"):
        ModelConfig(motion_from_static_strength=bad)  # type: ignore[arg-type]


def test_strength_default_and_range(diffuser: ClipDiffuser):
    assert ModelConfig().motion_from_static_strength == 0.6
    assert ModelConfig(motion_from_static_strength=0).motion_from_static_strength == 0
    with pytest.raises(ValueError, match="strength"):
        _clip(diffuser, 1, start=None, strength=2.0)


def test_motion_unet_keeps_the_style_unets_added_conditioning():
    """diffusers' `from_unet2d` leaves SDXL's `add_embedding` random: two diffusers built from the same
    weights must draw the same clip, with the static UNet's conditioning weights."""
    base = build_tiny_pipeline()
    adapter = build_tiny_motion_adapter()
    first, second = ClipDiffuser(base, adapter), ClipDiffuser(base, adapter)
    for diffuser in (first, second):
        motion = diffuser.pipeline("tiny").unet.add_embedding.state_dict()
        for name, tensor in base.unet.add_embedding.state_dict().items():
            assert torch.equal(motion[name], tensor), name
    a, b = _clip(first, 4), _clip(second, 4)
    assert [np.asarray(f).tobytes() for f in a] == [np.asarray(f).tobytes() for f in b]
