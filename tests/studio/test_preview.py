"""Preview contact sheets: eight labelled expressions in a grid of the expected size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from diffusers import StableDiffusionXLPipeline
from PIL import Image

from generator.options import ModelConfig
from generator.pipeline import StickerPipeline
from generator.styles import StyleRegistry
from generator.training.errors import StudioError
from generator.training.export import StyleDraft, write_style
from generator.training.preview import (
    EXPRESSIONS,
    SheetLayout,
    contact_sheet,
    preview_prompts,
    render_preview,
)

SMALL = SheetLayout(columns=4, cell=32, label_height=12, padding=4, title_height=16)


def test_sheet_geometry() -> None:
    colours = [(30 * i, 100, 200) for i in range(8)]
    sheet = contact_sheet(
        [Image.new("RGB", (64, 64), c) for c in colours], [str(i) for i in range(8)], "t", SMALL
    )
    assert sheet.size == SMALL.size(8) == (4 * 32 + 5 * 4, 16 + 2 * (32 + 12) + 3 * 4)
    for index, colour in enumerate(colours):
        x, y = SMALL.cell_origin(index)
        assert sheet.getpixel((x + 16, y + 16)) == colour
    assert SheetLayout().size(8) == (1064, 628)
    with pytest.raises(StudioError):
        contact_sheet([], [], "empty")


def test_preview_renders_every_expression_with_the_style(
    tmp_path: Path, tiny_pipe: StableDiffusionXLPipeline
) -> None:
    spec = write_style(
        tmp_path, StyleDraft(name="plain", description="prompt only", subject="otter", triggers=["dm"])
    )
    prompts = preview_prompts(spec)
    assert prompts[0] == "happy, otter, dm" and prompts[3] == 'saying "I love you", otter, dm'
    pipeline = StickerPipeline.from_pipeline(tiny_pipe, StyleRegistry([spec]), ModelConfig(compile="off"))
    sheet = render_preview(pipeline, spec, size=64, layout=SMALL)
    assert sheet.size == SMALL.size(len(EXPRESSIONS))
    tiles = [np.asarray(sheet.crop((*o, o[0] + 32, o[1] + 32))) for o in map(SMALL.cell_origin, range(8))]
    assert len({tile.tobytes() for tile in tiles}) == 8  # eight different pictures


def test_preview_shows_finished_stickers_over_a_checkerboard(
    tmp_path: Path, tiny_pipe: StableDiffusionXLPipeline
) -> None:
    spec = write_style(
        tmp_path, StyleDraft(name="plain", description="prompt only", subject="otter", triggers=["dm"])
    )
    pipeline = StickerPipeline.from_pipeline(tiny_pipe, StyleRegistry([spec]), ModelConfig(compile="off"))
    finished = render_preview(pipeline, spec, size=64, layout=SMALL)
    raw = render_preview(pipeline, spec, size=64, layout=SMALL, finish=False)
    assert finished.size == raw.size
    x, y = SMALL.cell_origin(0)
    # Stickers have transparent corners (a margin, rounded or cut-out edges): the checkerboard shows there.
    assert finished.getpixel((x + 1, y + 1)) in {(255, 255, 255), (226, 226, 232)}
    assert finished.tobytes() != raw.tobytes()
