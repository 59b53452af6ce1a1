"""Diffusion animations on the cluster: the replica runs the local engine's AnimateDiff code over its fused
style (the tiny motion adapter) and returns encoded files that decode to the clip's frames.

Not compared with the local engine's clip: diffusers 0.42's `UNetMotionModel.from_unet2d` leaves SDXL's
`add_embedding` randomly initialised, so two processes draw different clips (reported; see the docs)."""

from __future__ import annotations

import dataclasses
import io

import pytest
from PIL import Image, ImageSequence

from generator.api import GenerationRequest, GenerationTimeout, InvalidRequest
from generator.options import EngineConfig, ModelConfig
from tests.ray.test_generation import connected, replica_status

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(600)]

Configs = tuple[ModelConfig, EngineConfig]
CLIP = GenerationRequest(prompt="waving otter, dm-sticker", style="lora-a", seed=5, width=64, height=64)


def frames(data: bytes) -> list[Image.Image]:
    with Image.open(io.BytesIO(data)) as clip:
        return [frame.convert("RGBA") for frame in ImageSequence.Iterator(clip)]


async def test_a_diffusion_animation_through_ray_returns_decodable_frames(
    main_app: Configs,
) -> None:
    model, engine_cfg = main_app
    engine = await connected(model, engine_cfg)
    try:
        clip = await engine.animate(CLIP, ("webp", "gif"))
        assert "lora-a" in (await replica_status(engine)).hot_styles  # drawn in the fused style
        with pytest.raises(GenerationTimeout) as late:  # the deadline holds; the Ray call is cancelled
            await engine.animate(dataclasses.replace(CLIP, seed=6, timeout_s=0.05), ("gif",))
        assert late.value.user_message == "That animation took too long. Please try again."
        with pytest.raises(InvalidRequest):  # as the local engine: taught subjects are not animated yet
            await engine.animate(dataclasses.replace(CLIP, subject_lora="/data/dog.safetensors"), ("gif",))
    finally:
        await engine.close()
    assert set(clip.files) == {"webp", "gif"} and clip.request == CLIP
    webp = frames(clip.files["webp"])
    assert len(webp) == model.motion_frames and len(frames(clip.files["gif"])) > 1
    alpha = webp[0].getchannel("A")
    assert alpha.getextrema() == (0, 255)  # cut out: transparent background, opaque sticker
