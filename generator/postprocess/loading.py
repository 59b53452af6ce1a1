"""Safe image loading: size caps before decoding, clear errors for broken or non-image input."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from generator.postprocess.errors import InvalidImage

MAX_FILE_BYTES = 25 * 1024 * 1024
MAX_PIXELS = 40_000_000  # about 6300x6300; decoded RGBA stays under 160 MB
MAX_SIDE = 16_384
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")

ImageSource = bytes | bytearray | memoryview | str | os.PathLike[str] | Image.Image


def load_image(source: ImageSource) -> Image.Image:
    """Decode an image from bytes, a path or a PIL image into RGB or RGBA, refusing bad input.

    The header is read first and the pixel count checked before any pixel is decoded, so a
    20000x20000 "decompression bomb" costs a few bytes of memory, not gigabytes. Truncated files,
    non-images and formats outside PNG/JPEG/WebP/GIF/BMP raise InvalidImage with a short message.
    """
    if isinstance(source, Image.Image):
        _check_size(source.size)
        return _normalise_mode(source)
    data = _read_bytes(source)
    if not data:
        raise InvalidImage("The file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
            _check_size(image.size)
            if image.format == "JPEG":
                image.draft("RGB", (4096, 4096))
            image.seek(0)
            image.load()
    except InvalidImage:
        raise
    except Image.DecompressionBombError as exc:
        raise InvalidImage("The image is too large (at most 40 megapixels).") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImage("That file is not an image (use PNG, JPEG, WebP, GIF or BMP).") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, MemoryError) as exc:
        raise InvalidImage("The image file is damaged or incomplete.") from exc
    try:
        image = ImageOps.exif_transpose(image) or image
    except (OSError, ValueError, SyntaxError):
        pass  # broken EXIF: keep the stored orientation
    return _normalise_mode(image)


def _read_bytes(source: ImageSource) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if len(data) > MAX_FILE_BYTES:
            raise InvalidImage("The file is too large (at most 25 MB).")
        return data
    path = Path(os.fspath(source))
    try:
        if not path.is_file():
            raise InvalidImage(f"No such image file: {path.name}")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InvalidImage("The file is too large (at most 25 MB).")
        return path.read_bytes()
    except OSError as exc:
        raise InvalidImage(f"Could not read {path.name}.") from exc


def _check_size(size: tuple[int, int]) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise InvalidImage("The image is empty.")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise InvalidImage("The image is too large (at most 40 megapixels).")


def _normalise_mode(image: Image.Image) -> Image.Image:
    """RGBA when the image carries transparency, RGB otherwise."""
    mode = image.mode
    if mode in ("RGB", "RGBA"):
        return image
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float32)
        top = float(values.max()) or 1.0
        grey = np.clip(values * (255.0 / top), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    has_alpha = mode in ("LA", "La", "PA", "RGBa") or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")
