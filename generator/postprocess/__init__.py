"""Sticker post-processing: background removal, layout, outline/shadow and size-capped encoders.

Pure numpy/Pillow and torch-free, so `bot/` and the CLI can use it without loading a model.
"""

from generator.postprocess.encode import (
    DISCORD_MAX_BYTES,
    DISCORD_SIDE,
    STICKER_MAX_BYTES,
    STICKER_SIDE,
    check_discord_png,
    check_sticker_webp,
    discord_server_sticker,
    encode_sticker_webp,
)
from generator.postprocess.errors import (
    EncodingFailed,
    InvalidImage,
    MatterUnavailable,
    NoBackground,
    NoSubject,
)
from generator.postprocess.loading import load_image
from generator.postprocess.matting import Matte, Matter, get_matter
from generator.postprocess.options import StickerOptions, parse_color
from generator.postprocess.pipeline import cut, cutout, finish_rgba, make_sticker

__all__ = [
    "DISCORD_MAX_BYTES",
    "DISCORD_SIDE",
    "STICKER_MAX_BYTES",
    "STICKER_SIDE",
    "EncodingFailed",
    "InvalidImage",
    "Matte",
    "Matter",
    "MatterUnavailable",
    "NoBackground",
    "NoSubject",
    "StickerOptions",
    "check_discord_png",
    "check_sticker_webp",
    "cut",
    "cutout",
    "discord_server_sticker",
    "encode_sticker_webp",
    "finish_rgba",
    "get_matter",
    "load_image",
    "make_sticker",
    "parse_color",
]
