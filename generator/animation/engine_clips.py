"""Video diffusion inside the engine: AnimateDiff wraps the worker thread's own pipeline (the style's fused
UNet) and runs on that thread; the cut-out and encoding then run off it, on the post-processing pool."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from generator.animation.errors import AnimationUnavailable
from generator.api import GenerationRequest, StyleSummary

if TYPE_CHECKING:
    from PIL import Image

    from generator.animation.diffusion import ClipDiffuser

log = logging.getLogger(__name__)

OUTLINE_PX = 8
ANIMATION_FORMATS = ("webm", "gif", "webp", "apng")  # what `encode_frames` can write


class DiffusionClips:
    """The motion adapter (loaded on first use, on the worker) and the AnimateDiff pipeline around the
    engine's SDXL pipeline. A missing adapter is remembered: later requests get the same one line."""

    def __init__(
        self,
        motion_adapter: str | None,
        *,
        local_files_only: bool = False,
        frames: int = 8,
        from_static_strength: float = 0.0,
    ) -> None:
        self.motion_adapter = motion_adapter
        self.local_files_only = local_files_only
        self.frames = frames
        self.from_static_strength = from_static_strength  # 0: text-to-video
        self._diffuser: ClipDiffuser | None = None
        self._error: AnimationUnavailable | None = None

    def frames_on_worker(
        self, pipeline: Any, request: GenerationRequest, style: StyleSummary, steps: int
    ) -> list[Image.Image]:
        """RGB frames for the request's prompt and first seed, in the style already fused into `pipeline`."""
        if self._error is not None:
            raise AnimationUnavailable(self._error.user_message)
        base = getattr(pipeline, "pipe", None)
        if base is None:
            raise AnimationUnavailable("This engine cannot make diffusion animations; try a motion preset.")
        from generator.animation.diffusion import ClipDiffuser, load_motion_adapter

        if self._diffuser is None or self._diffuser.base is not base:
            try:
                adapter = load_motion_adapter(self.motion_adapter, local_files_only=self.local_files_only)
            except AnimationUnavailable as exc:
                self._error = exc
                raise
            self._diffuser = ClipDiffuser(base, adapter)
        negative = style.negative_prompt if request.negative_prompt is None else request.negative_prompt
        size = {"steps": steps, "width": request.width, "height": request.height}
        start = None
        if self.from_static_strength > 0:  # start from the static sticker (its latents, drawn again)
            start = self._diffuser.static_latents(
                request.prompt, request.seed, negative_prompt=negative, **size
            )
        return self._diffuser.run(
            request.prompt,
            request.seed,
            style=style.name,
            negative_prompt=negative or None,
            frames=self.frames,
            start=start,
            strength=self.from_static_strength,
            **size,
        )


def encode_frames(
    frames: Sequence[Image.Image], style: StyleSummary, request: GenerationRequest, formats: Sequence[str]
) -> dict[str, bytes]:
    """Frames → one cut-out clip (one background key, smoothed alpha) → one file per format."""
    from generator.animation.clip_cutout import cut_clip
    from generator.animation.encode import discord_server_sticker_animated, encode_clip
    from generator.postprocess.options import StickerOptions

    outline = style.outline if request.outline is None else request.outline
    fps = max(8.0, len(frames) / 2.0)  # 8-16 frames over about 1-2 s
    clip = cut_clip(
        frames, fps, StickerOptions(outline=OUTLINE_PX if outline else 0, background=style.background)
    )
    return {
        fmt: discord_server_sticker_animated(clip, "apng") if fmt == "apng" else encode_clip(clip, fmt)
        for fmt in formats
    }
