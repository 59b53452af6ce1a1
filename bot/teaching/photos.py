"""Checking the photos of a teach: count, file size and type, image bombs, tiny, blurry, duplicates, and
(subject_check.py) whether one subject is visible in most of them.

Decoding goes through the post-processing loader (`generator.postprocess.loading`), which reads the
header and refuses oversized images before any pixel is decoded. Blur is the variance of the
Laplacian of the grey image (a sharp photo has strong edges); duplicates are photos whose 64-bit
difference hashes (dHash) are within a few bits of an earlier photo's.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from bot.teaching.errors import TeachError
from bot.teaching.subject_check import check_one_subject
from generator.postprocess.errors import InvalidImage
from generator.postprocess.loading import load_image

BLUR_MIN_VARIANCE = 12.0  # Laplacian variance (0-255 grey, measured at 256 px) below this is "blurry"
DUPLICATE_MAX_BITS = 4  # dHash distance at or below this is "the same photo"
ANALYSIS_SIDE = 256
MAX_SIDE_KEPT = 1024  # photos are stored downscaled to this (training uses 512 or less)


@dataclass(frozen=True, slots=True)
class Photo:
    """One uploaded file as the adapter received it."""

    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class CheckedPhotos:
    accepted: list[Image.Image]  # RGB, at most MAX_SIDE_KEPT on the long side, EXIF orientation applied
    rejected: list[tuple[str, str]]  # (shown file name, reason)

    def notes(self) -> str:
        """`"a.jpg (blurry), b.png (a duplicate)"`, at most five named."""
        shown = ", ".join(f"{name} ({why})" for name, why in self.rejected[:5])
        more = len(self.rejected) - 5
        return shown + (f" and {more} more" if more > 0 else "")


def shown_name(filename: str, index: int) -> str:
    name = "".join(ch for ch in str(filename).split("/")[-1].split("\\")[-1] if ch.isprintable())[:40]
    return name or f"photo {index + 1}"


def laplacian_variance(image: Image.Image) -> float:
    grey = image.convert("L")
    grey.thumbnail((ANALYSIS_SIDE, ANALYSIS_SIDE))
    pixels = np.asarray(grey, dtype=np.float32)
    if min(pixels.shape) < 3:
        return 0.0
    lap = pixels[:-2, 1:-1] + pixels[2:, 1:-1] + pixels[1:-1, :-2] + pixels[1:-1, 2:] - 4 * pixels[1:-1, 1:-1]
    return float(lap.var())


def dhash(image: Image.Image) -> int:
    small = image.convert("L").filter(ImageFilter.BoxBlur(1)).resize((9, 8), Image.Resampling.LANCZOS)
    pixels = np.asarray(small, dtype=np.int16)
    bits = (pixels[:, 1:] > pixels[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def check_photos(
    photos: Sequence[Photo],
    *,
    min_count: int,
    max_count: int,
    max_bytes: int,
    min_side: int,
    one_subject: bool = True,
) -> CheckedPhotos:
    """Accept the good photos; TeachError when too few (or too many) remain, naming why."""
    if len(photos) < min_count:
        got = "no photos" if not photos else f"{len(photos)} photo{'s' if len(photos) != 1 else ''}"
        raise TeachError(f"I need {min_count} to {max_count} photos of it, and got {got}.")
    if len(photos) > max_count:
        raise TeachError(f"That's {len(photos)} photos; send at most {max_count}.")
    accepted: list[Image.Image] = []
    names: list[str] = []
    rejected: list[tuple[str, str]] = []
    hashes: list[int] = []
    for index, photo in enumerate(photos):
        name = shown_name(photo.filename, index)
        if len(photo.data) > max_bytes:
            rejected.append((name, f"over {max_bytes // (1024 * 1024)} MB"))
            continue
        try:
            image = load_image(photo.data)
        except InvalidImage as exc:
            rejected.append((name, exc.user_message.rstrip(".").lower().removeprefix("the ")))
            continue
        if min(image.size) < min_side:
            rejected.append((name, f"too small, {image.width}x{image.height}; at least {min_side} px"))
            continue
        image = _flatten(image)
        if laplacian_variance(image) < BLUR_MIN_VARIANCE:
            rejected.append((name, "blurry"))
            continue
        digest = dhash(image)
        if any(bin(digest ^ seen).count("1") <= DUPLICATE_MAX_BITS for seen in hashes):
            rejected.append((name, "a duplicate of another photo"))
            continue
        hashes.append(digest)
        image.thumbnail((MAX_SIDE_KEPT, MAX_SIDE_KEPT), Image.Resampling.LANCZOS)
        accepted.append(image)
        names.append(name)
    if one_subject and accepted:
        unlike = dict(check_one_subject(accepted, names))
        rejected.extend((names[i], why) for i, why in unlike.items())
        accepted = [image for i, image in enumerate(accepted) if i not in unlike]
    checked = CheckedPhotos(accepted, rejected)
    if len(accepted) < min_count:
        raise TeachError(
            f"Only {len(accepted)} of the photos can be used; I need at least {min_count}. "
            f"Not usable: {checked.notes()}."
        )
    return checked


def _flatten(image: Image.Image) -> Image.Image:
    if image.mode == "RGBA":
        canvas = Image.new("RGB", image.size, (255, 255, 255))
        canvas.paste(image, mask=image.getchannel("A"))
        return canvas
    return image.convert("RGB")


def encode_png(image: Image.Image) -> bytes:
    """Photos are stored re-encoded (no EXIF, no metadata, no original bytes)."""
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
