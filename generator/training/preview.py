"""`styles preview`: a labelled contact sheet of a style's character in the standard expressions."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from generator.api import GenerationRequest
from generator.engine import StylePipeline, sticker_finisher
from generator.styles import StyleSpec
from generator.training.errors import StudioError

EXPRESSIONS: tuple[tuple[str, str], ...] = (
    ("happy", "happy"),
    ("sad", "sad"),
    ("eating", "eating"),
    ("I love you", 'saying "I love you"'),
    ("let's go", 'saying "let\'s go"'),
    ("sleeping", "sleeping"),
    ("angry", "angry"),
    ("laughing", "laughing"),
)
BATCH = 4


@dataclass(frozen=True)
class SheetLayout:
    columns: int = 4
    cell: int = 256  # each image is scaled to cell x cell
    label_height: int = 28
    padding: int = 8
    title_height: int = 36
    background: tuple[int, int, int] = (245, 245, 245)
    checker: int = 16  # checkerboard square behind each sticker, so transparency is visible

    def size(self, count: int) -> tuple[int, int]:
        """Pixel size of a sheet of `count` images."""
        rows = -(-count // self.columns)
        width = self.columns * self.cell + (self.columns + 1) * self.padding
        height = self.title_height + rows * (self.cell + self.label_height) + (rows + 1) * self.padding
        return width, height

    def cell_origin(self, index: int) -> tuple[int, int]:
        row, column = divmod(index, self.columns)
        x = self.padding + column * (self.cell + self.padding)
        y = self.title_height + self.padding + row * (self.cell + self.label_height + self.padding)
        return x, y


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def contact_sheet(
    images: Sequence[Image.Image], labels: Sequence[str], title: str, layout: SheetLayout | None = None
) -> Image.Image:
    """Lay `images` out in a grid with a label under each and a title on top."""
    layout = layout or SheetLayout()
    if not images or len(images) != len(labels):
        raise StudioError("A contact sheet needs one label per image and at least one image.")
    sheet = Image.new("RGB", layout.size(len(images)), layout.background)
    draw = ImageDraw.Draw(sheet)
    draw.text(
        (layout.padding, layout.title_height // 2), title, fill=(30, 30, 30), font=_font(20), anchor="lm"
    )
    label_font = _font(16)
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        x, y = layout.cell_origin(index)
        tile = image.convert("RGBA")
        tile.thumbnail((layout.cell, layout.cell), Image.Resampling.LANCZOS)
        sheet.paste(_checkerboard(layout.cell, layout.checker), (x, y))
        offset = ((layout.cell - tile.width) // 2, (layout.cell - tile.height) // 2)
        sheet.paste(tile, (x + offset[0], y + offset[1]), tile)
        centre = (x + layout.cell // 2, y + layout.cell + layout.label_height // 2)
        draw.text(centre, label, fill=(60, 60, 60), font=label_font, anchor="mm")
    return sheet


def _checkerboard(size: int, square: int) -> Image.Image:
    board = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(board)
    for top in range(0, size, square):
        for left in range((top // square) % 2 * square, size, 2 * square):
            draw.rectangle((left, top, left + square - 1, top + square - 1), fill=(226, 226, 232))
    return board


def finished_stickers(images: Sequence[Image.Image], spec: StyleSpec, seed: int) -> list[Image.Image]:
    """The engine's own post-processing (cut-out, outline), so the sheet shows what users will get."""
    finish = sticker_finisher({spec.name: spec.matting or "flood"})
    summary = spec.summary()
    stickers = []
    for index, image in enumerate(images):
        request = GenerationRequest(prompt=spec.subject, style=spec.name, seed=seed + index)
        with Image.open(io.BytesIO(finish(image, summary, request))) as decoded:
            stickers.append(decoded.convert("RGBA"))
    return stickers


def preview_prompts(spec: StyleSpec) -> list[str]:
    return [spec.build_prompt(expression) for _, expression in EXPRESSIONS]


def render_preview(
    pipeline: StylePipeline,
    spec: StyleSpec,
    *,
    size: int = 512,
    seed: int = 0,
    layout: SheetLayout | None = None,
    finish: bool = True,
) -> Image.Image:
    """Generate the eight expressions with the style's fused weights and lay them out.

    With `finish` (the default) each image goes through the engine's post-processing first.
    """
    pipeline.activate_style(spec.name)
    prompts = preview_prompts(spec)
    images: list[Image.Image] = []
    for start in range(0, len(prompts), BATCH):
        chunk = prompts[start : start + BATCH]
        seeds = [seed + start + i for i in range(len(chunk))]
        negatives = [spec.negative_prompt] * len(chunk)
        images.extend(pipeline.run(chunk, negatives, seeds, spec.steps, size, size))
    if finish:
        images = finished_stickers(images, spec, seed)
    labels = [label for label, _ in EXPRESSIONS]
    return contact_sheet(images, labels, f"{spec.name}: {spec.subject}", layout)


def save_sheet(sheet: Image.Image, path: str | Path) -> Path:
    target = Path(path)
    if target.suffix.lower() not in (".png", ".webp", ".jpg", ".jpeg"):
        raise StudioError(f"Save the sheet as .png, .webp or .jpg, not {target.name}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(target)
    return target
