"""Animation errors: each carries one sentence a chat user can read."""

from __future__ import annotations

from generator.api import GeneratorError

ANIMATE_EXTRA_HINT = "pip install 'stickerbot[animate]'"


class AnimationUnavailable(GeneratorError):
    """A part animation needs is not installed (PyAV, or the motion adapter)."""

    kind = "animation_unavailable"


class AnimationEncodingFailed(GeneratorError):
    kind = "encoding_failed"


def pyav_missing() -> AnimationUnavailable:
    return AnimationUnavailable(
        f"Animated WEBM stickers need PyAV, which is not installed: {ANIMATE_EXTRA_HINT}"
    )
