"""Bad input never crashes and never allocates gigabytes: each case gets a short, clear error."""

from __future__ import annotations

import io
import resource
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from generator.api import InvalidRequest
from generator.postprocess import (
    InvalidImage,
    NoBackground,
    NoSubject,
    StickerOptions,
    cut,
    load_image,
    make_sticker,
)
from tests.postprocess.helpers import decode_sticker


def _png_with_header_size(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with a few bytes of (tiny) pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("side", [20_000, 7_000])
def test_decompression_bomb_is_refused_before_decoding(side: int) -> None:
    before = _max_rss_mb()
    with pytest.raises(InvalidImage, match="too large"):
        load_image(_png_with_header_size(side, side))
    with pytest.raises(InvalidImage, match="too large"):
        make_sticker(_png_with_header_size(side, side))
    assert _max_rss_mb() - before < 100


def test_error_types_are_invalid_requests_with_user_messages() -> None:
    with pytest.raises(InvalidRequest) as caught:
        load_image(b"this is not an image at all")
    assert caught.value.user_message == "That file is not an image (use PNG, JPEG, WebP, GIF or BMP)."


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_files_are_refused(png_bytes, fmt: str) -> None:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))
    data = png_bytes(image, fmt)
    with pytest.raises(InvalidImage):
        load_image(data[: len(data) // 2])


@pytest.mark.parametrize("data", [b"", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"<svg></svg>", b"%PDF-1.4 hello"])
def test_non_images_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidImage):
        make_sticker(data)


def test_missing_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(InvalidImage, match="No such image file"):
        load_image(tmp_path / "missing.png")


def test_oversized_file_is_refused_without_reading_it(tmp_path) -> None:
    path = tmp_path / "huge.png"
    with open(path, "wb") as handle:
        handle.truncate(30 * 1024 * 1024)  # sparse: no disk, no memory
    with pytest.raises(InvalidImage, match="too large"):
        load_image(path)


def test_fully_transparent_image(png_bytes) -> None:
    data = png_bytes(Image.new("RGBA", (200, 200), (255, 0, 0, 0)))
    with pytest.raises(NoSubject, match="fully transparent"):
        make_sticker(data)


@pytest.mark.parametrize("colour", [(255, 255, 255), (0, 255, 0), (12, 12, 12)])
def test_fully_uniform_image(colour) -> None:
    with pytest.raises(NoSubject, match="single flat colour"):
        make_sticker(Image.new("RGB", (300, 200), colour))


def test_tiny_image() -> None:
    with pytest.raises(NoSubject):
        make_sticker(Image.new("RGB", (2, 2), (1, 2, 3)))


def test_no_separable_background_keeps_the_whole_image_or_errors() -> None:
    rng = np.random.default_rng(7)
    busy = Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    matte = cut(busy)
    assert matte.fallback
    alpha = np.asarray(matte.image.getchannel("A"))
    assert alpha[0, 0] == 0 and alpha[150, 200] == 255  # a card with round corners
    sticker = decode_sticker(make_sticker(busy))
    assert sticker.size[0] == 512 and 370 <= sticker.size[1] <= 400  # 4:3 plus the padding
    with pytest.raises(NoBackground):
        make_sticker(busy, StickerOptions(on_no_background="error"))


def test_unusual_modes_are_accepted(png_bytes) -> None:
    grey16 = Image.fromarray((np.linspace(0, 65535, 128 * 128).reshape(128, 128)).astype(np.uint16))
    assert load_image(png_bytes(grey16)).mode == "RGB"
    palette = Image.new("P", (64, 64), 0)
    palette.putpalette([255, 255, 255, 200, 30, 30] + [0] * 762)
    palette.paste(1, (16, 16, 48, 48))
    palette.info["transparency"] = 0
    loaded = load_image(png_bytes(palette, transparency=0))
    assert loaded.mode == "RGBA"
    decode_sticker(make_sticker(loaded))
    cmyk = Image.new("CMYK", (64, 64), (0, 0, 0, 0))
    assert load_image(png_bytes(cmyk, "JPEG")).mode == "RGB"


def test_animated_gif_uses_the_first_frame(png_bytes) -> None:
    frames = [Image.new("RGB", (120, 120), (255, 255, 255)) for _ in range(3)]
    frames[0].paste((200, 20, 20), (30, 30, 90, 90))
    data = png_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:])
    sticker = np.asarray(decode_sticker(make_sticker(data)))
    red = (sticker[..., 0] > 150) & (sticker[..., 1] < 80) & (sticker[..., 3] > 250)
    assert red.sum() > 1000  # the red square of frame 0 (the later frames are plain white)


def test_exif_rotation_is_applied(png_bytes) -> None:
    image = Image.new("RGB", (200, 100), (255, 255, 255))
    image.paste((20, 20, 200), (20, 20, 180, 80))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    loaded = load_image(png_bytes(image, "JPEG", exif=exif.tobytes()))
    assert loaded.size == (100, 200)


def test_bytes_and_buffers_are_accepted() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, "PNG")
    assert load_image(bytearray(buffer.getvalue())).size == (10, 10)
    assert load_image(memoryview(buffer.getvalue())).size == (10, 10)
