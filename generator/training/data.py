"""Training images: discovery, checks with clear errors, captions, and preprocessing.

A dataset is one flat folder of `.png`, `.webp`, `.jpg`/`.jpeg` images. Captions come from
sidecar `NAME.txt` files (then every image needs one) or from the file name
(`happy_otter_03.png` -> "happy otter"). The trigger word is added to every caption.
Transparent pixels are composited onto the style's flat background colour, because that
is what the model is asked to draw and what post-processing keys out later.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

from generator.training.errors import DatasetError

IMAGE_SUFFIXES = (".png", ".webp", ".jpg", ".jpeg")
CAPTION_SUFFIX = ".txt"
MAX_PIXELS = 40_000_000  # larger files are refused before decoding (decompression bombs)
MAX_CAPTION_CHARS = 1000
MAX_LISTED = 5  # offending files named in one error message

Fit = Literal["pad", "crop"]
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Example:
    """One training image, already square at the training resolution, and its caption."""

    source: Path
    image: Image.Image
    caption: str


def parse_color(value: str | Sequence[int]) -> RGB:
    """`"#rrggbb"`, `"rrggbb"` or three ints 0-255 -> an RGB tuple."""
    if isinstance(value, str):
        text = value.strip().removeprefix("#")
        if not re.fullmatch(r"[0-9a-fA-F]{6}", text):
            raise DatasetError(f"Invalid colour {value!r}: use #rrggbb.")
        return (int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16))
    channels = tuple(int(c) for c in value)
    if len(channels) != 3 or not all(0 <= c <= 255 for c in channels):
        raise DatasetError(f"Invalid colour {value!r}: use three values 0-255.")
    return channels  # type: ignore[return-value]


def caption_from_filename(stem: str) -> str:
    """`happy_otter-03` -> `happy otter`: separators become spaces, a trailing counter goes."""
    words = re.sub(r"[_\-.]+", " ", stem).split()
    while words and words[-1].isdigit():
        words.pop()
    return " ".join(words)


def with_trigger(caption: str, trigger: str) -> str:
    """Add the trigger word unless the caption already contains it."""
    caption = " ".join(caption.split())
    if not trigger or re.search(rf"(?<!\w){re.escape(trigger)}(?!\w)", caption, flags=re.IGNORECASE):
        return caption
    return f"{caption}, {trigger}" if caption else trigger


def to_square(image: Image.Image, resolution: int, background: RGB, fit: Fit) -> Image.Image:
    """Composite alpha onto `background`, then pad (stickers) or centre-crop (photos) to a square."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        image = Image.alpha_composite(canvas, rgba)
    image = image.convert("RGB")
    size = (resolution, resolution)
    if fit == "crop":
        return ImageOps.fit(image, size, method=Image.Resampling.LANCZOS)
    side = max(image.size)
    square = Image.new("RGB", (side, side), background)
    square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return square.resize(size, Image.Resampling.LANCZOS)


def _listing(paths: Sequence[Path], notes: Sequence[str] = ()) -> str:
    """`a.png (why), b.png (why) and 3 more`."""
    names = [f"{p.name} ({notes[i]})" if notes else p.name for i, p in enumerate(paths)]
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def _open_image(path: Path) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                raise ValueError(f"{opened.width}x{opened.height} is too large")
            opened.seek(0)  # animated WebP/PNG: the first frame
            opened.load()
            return opened.copy()


def _read_caption(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"Caption file {path.name} cannot be read as UTF-8 text ({exc}).") from exc
    return " ".join(text.split())[:MAX_CAPTION_CHARS]


def discover(folder: str | Path) -> tuple[list[Path], dict[str, Path]]:
    """Image files (sorted) and caption files by stem in `folder`; checks the pairing."""
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"Image folder {root} does not exist or is not a folder.")
    images: list[Path] = []
    captions: dict[str, Path] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        suffix = entry.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            images.append(entry)
        elif suffix == CAPTION_SUFFIX:
            captions[entry.stem] = entry
    if not images:
        raise DatasetError(f"No training images in {root} (looked for {', '.join(IMAGE_SUFFIXES)}).")
    stems: dict[str, Path] = {}
    duplicates = []
    for image in images:
        if image.stem in stems:
            duplicates.append(image)
        stems[image.stem] = image
    if duplicates:
        raise DatasetError(
            f"Several images share a name (captions would be ambiguous): {_listing(duplicates)}."
        )
    if captions:
        orphans = [captions[s] for s in sorted(captions) if s not in stems]
        uncaptioned = [image for image in images if image.stem not in captions]
        problems = []
        if orphans:
            problems.append(f"caption files without an image: {_listing(orphans)}")
        if uncaptioned:
            problems.append(f"images without a caption file: {_listing(uncaptioned)}")
        if problems:
            raise DatasetError(
                f"Captions in {root} do not match the images ({'; '.join(problems)}). "
                "Give every image a NAME.txt, or remove all .txt files to caption from file names."
            )
    return images, captions


def load_dataset(
    folder: str | Path,
    *,
    resolution: int,
    background: RGB = (255, 255, 255),
    trigger: str = "",
    fit: Fit = "pad",
    min_side: int | None = None,
    min_images: int = 1,
    max_images: int = 2000,
) -> list[Example]:
    """Check and load every image of `folder`; raise one `DatasetError` naming all bad files."""
    images, captions = discover(folder)
    if not min_images <= len(images) <= max_images:
        raise DatasetError(
            f"{Path(folder)} has {len(images)} images; this needs {min_images} to {max_images}."
        )
    smallest = min_side if min_side is not None else max(8, resolution // 2)
    unreadable: list[tuple[Path, str]] = []
    too_small: list[tuple[Path, str]] = []
    examples: list[Example] = []
    for path in images:
        try:
            image = _open_image(path)
        except (
            OSError,
            ValueError,
            UnidentifiedImageError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,  # raised as an error by `_open_image`
        ) as exc:
            unreadable.append((path, str(exc).split("\n")[0][:80] or type(exc).__name__))
            continue
        if min(image.size) < smallest:
            too_small.append((path, f"{image.width}x{image.height}"))
            continue
        text = _read_caption(captions[path.stem]) if captions else caption_from_filename(path.stem)
        caption = with_trigger(text, trigger)
        if not caption:
            raise DatasetError(f"Image {path.name} has an empty caption and there is no trigger word.")
        examples.append(Example(path, to_square(image, resolution, background, fit), caption))
    if unreadable:
        paths, notes = zip(*unreadable, strict=True)
        raise DatasetError(
            f"{len(unreadable)} image(s) in {Path(folder)} cannot be read: {_listing(paths, notes)}."
        )
    if too_small:
        paths, notes = zip(*too_small, strict=True)
        raise DatasetError(
            f"{len(too_small)} image(s) are smaller than {smallest} px on their short side "
            f"(training resolution {resolution}): {_listing(paths, notes)}."
        )
    return examples
