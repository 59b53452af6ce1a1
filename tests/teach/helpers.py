"""Photos for teach tests: sharp, distinct "dog" photos, and the bad kinds the checks must refuse."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from bot.teaching.photos import Photo


def dog_photo(index: int, size: tuple[int, int] = (320, 288), fmt: str = "JPEG") -> bytes:
    """A brown "dog" blob on a textured, per-photo different background (sharp, not a duplicate)."""
    rng = np.random.default_rng(index)
    noise = rng.integers(0, 255, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    image = Image.fromarray(noise).resize(size, Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(image)
    x = 40 + 11 * index % 120
    draw.ellipse((x, 60, x + 150, 220), fill=(140, 90, 40))
    draw.ellipse((x + 100, 40, x + 170, 110), fill=(120, 70, 30))
    draw.rectangle((x + 20, 200, x + 40, 260), fill=(100, 60, 20))
    out = io.BytesIO()
    image.save(out, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return out.getvalue()


def dog_photos(count: int, start: int = 0) -> list[Photo]:
    return [Photo(f"dog_{i}.jpg", dog_photo(start + i)) for i in range(count)]


def blurry(index: int) -> bytes:
    image = Image.open(io.BytesIO(dog_photo(index))).filter(ImageFilter.GaussianBlur(12))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def png_header_bomb(side: int = 30000) -> bytes:
    """A valid PNG header claiming side x side pixels, with one tiny compressed row: a bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
