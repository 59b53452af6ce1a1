"""Encoders with hard size caps, each checked by decoding what it wrote.

- Telegram stickers: WebP with alpha, one side exactly 512 px and the other at most 512, under
  512,000 bytes. Quality steps down until the file fits.
- Discord server stickers: PNG, 320x320, at most 512 KiB.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageFilter

from generator.postprocess.errors import EncodingFailed
from generator.postprocess.loading import load_image

STICKER_SIDE = 512
STICKER_MAX_BYTES = 512_000
DISCORD_SIDE = 320
DISCORD_MAX_BYTES = 512 * 1024
WEBP_METHOD = 0  # libwebp effort 0-6: same PSNR at quality 90, ~13% larger than 4, ~2x faster

# (quality, alpha_quality) from best to smallest; alpha stays lossless while colour quality drops.
_LADDER = (
    (90, 100),
    (80, 100),
    (70, 100),
    (60, 100),
    (50, 90),
    (40, 80),
    (30, 60),
    (20, 40),
    (10, 20),
    (0, 0),
)


def _ladder(start_quality: int) -> Iterator[tuple[int, int]]:
    start = max(0, min(100, start_quality))
    if start > _LADDER[0][0]:
        yield (start, 100)
    for quality, alpha_quality in _LADDER:
        if quality <= start:
            yield (quality, alpha_quality)


def _webp(image: Image.Image, quality: int, alpha_quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=quality, alpha_quality=alpha_quality, method=WEBP_METHOD)
    return buffer.getvalue()


def check_sticker_webp(data: bytes, max_bytes: int = STICKER_MAX_BYTES) -> tuple[int, int]:
    """Decode `data` and check Telegram's static sticker rules; returns (width, height)."""
    if len(data) >= max_bytes:
        raise EncodingFailed("The sticker file came out too large.", detail=f"{len(data)} bytes")
    try:
        with Image.open(io.BytesIO(data), formats=["WEBP"]) as decoded:
            decoded.load()
            size, bands = decoded.size, decoded.getbands()
    except (OSError, ValueError, SyntaxError) as exc:
        raise EncodingFailed("The sticker file could not be read back.") from exc
    if max(size) != STICKER_SIDE or min(size) < 1:
        raise EncodingFailed("The sticker has the wrong size.", detail=f"{size}")
    if "A" not in bands:
        raise EncodingFailed("The sticker lost its transparency.")
    return size


def encode_sticker_webp(rgba: Image.Image, *, quality: int = 90, max_bytes: int = STICKER_MAX_BYTES) -> bytes:
    """WebP with alpha under `max_bytes`, stepping quality (then alpha quality) down until it fits.

    The image must already be laid out (longer side 512) and carry some transparency. If even the
    lowest quality is too large, simpler versions are tried (blurred colours, then a flat
    silhouette); every result is decoded and checked before it is returned.
    """
    if rgba.mode != "RGBA":
        rgba = rgba.convert("RGBA")
    if max(rgba.size) != STICKER_SIDE:
        raise EncodingFailed("The sticker has the wrong size.", detail=f"{rgba.size}")
    last = b""
    for q, aq in _ladder(quality):
        last = _webp(rgba, q, aq)
        if len(last) < max_bytes:
            check_sticker_webp(last, max_bytes)
            return last
    for fallback in _fallbacks(rgba):
        last = _webp(fallback, 0, 0)
        if len(last) < max_bytes:
            check_sticker_webp(last, max_bytes)
            return last
    raise EncodingFailed("The sticker could not be made small enough.", detail=f"{len(last)} bytes")


def _fallbacks(rgba: Image.Image) -> Iterator[Image.Image]:
    """Ever simpler versions of an image that will not fit: blurred colours with a hard alpha edge,
    then a flat silhouette in its mean colour (a few kilobytes whatever the input)."""
    hard_alpha = rgba.getchannel("A").point(lambda v: 255 if v >= 128 else 0)
    for radius in (2, 6):
        softened = rgba.filter(ImageFilter.GaussianBlur(radius))
        softened.putalpha(hard_alpha)
        yield softened
    mean = tuple(round(v) for v in np.asarray(rgba.convert("RGB"), dtype=np.float32).mean(axis=(0, 1)))
    silhouette = Image.new("RGBA", rgba.size, (*mean, 0))
    silhouette.putalpha(hard_alpha)
    yield silhouette


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")  # zlib level 6: within 2% of optimize=True at a quarter of the time
    return buffer.getvalue()


def check_discord_png(data: bytes) -> None:
    """Decode `data` and check Discord's server-sticker rules (PNG, 320x320, at most 512 KiB)."""
    if len(data) > DISCORD_MAX_BYTES:
        raise EncodingFailed("The Discord sticker came out too large.", detail=f"{len(data)} bytes")
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as decoded:
            decoded.load()
            size = decoded.size
    except (OSError, ValueError, SyntaxError) as exc:
        raise EncodingFailed("The Discord sticker could not be read back.") from exc
    if size != (DISCORD_SIDE, DISCORD_SIDE):
        raise EncodingFailed("The Discord sticker has the wrong size.", detail=f"{size}")


def discord_server_sticker(data: bytes | Image.Image) -> bytes:
    """A Discord server sticker from a sticker (WebP bytes or an image): PNG, 320x320, <= 512 KiB.

    The image is scaled so its longer side is 320 and centred on a transparent square.
    """
    image = load_image(data).convert("RGBA")
    scale = DISCORD_SIDE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if size != image.size:
        resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC
        image = image.resize(size, resample)
    canvas = Image.new("RGBA", (DISCORD_SIDE, DISCORD_SIDE), (0, 0, 0, 0))
    canvas.paste(image, ((DISCORD_SIDE - size[0]) // 2, (DISCORD_SIDE - size[1]) // 2))
    out = _png(canvas)
    if len(out) > DISCORD_MAX_BYTES:  # 320x320 RGBA is 400 KiB raw, so this needs pathological data
        out = _png(canvas.quantize(256, method=Image.Quantize.FASTOCTREE))
    check_discord_png(out)
    return out
