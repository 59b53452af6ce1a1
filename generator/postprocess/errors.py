"""Errors of the post-processing step, each with a short sentence a chat user can read."""

from __future__ import annotations

from generator.api import GeneratorError, InvalidRequest


class InvalidImage(InvalidRequest):
    """The input is not a usable image (not an image, truncated, too large, empty, flat)."""

    kind = "invalid_image"


class NoSubject(InvalidImage):
    """Nothing is left once the background is removed (a fully transparent or one-colour image)."""

    kind = "no_subject"


class NoBackground(InvalidImage):
    """The border shows no plain colour, so the background cannot be told from the subject."""

    kind = "no_background"


class MatterUnavailable(GeneratorError):
    """A model-based matter was asked for but its package or its weights are not installed."""

    kind = "matter_unavailable"


class EncodingFailed(GeneratorError):
    """The encoder could not produce a file within the platform limits (should never happen)."""

    kind = "encoding_failed"
