"""The full path image → sticker, checked by decoding every output."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bench.postprocess_stages import bench_postprocess
from generator.api import InvalidRequest
from generator.postprocess import (
    StickerOptions,
    cutout,
    discord_server_sticker,
    finish_rgba,
    make_sticker,
    parse_color,
)
from generator.postprocess.synthetic import sticker_scene
from tests.postprocess.helpers import alpha_of, decode_sticker


@pytest.mark.parametrize(
    "options",
    [
        StickerOptions(),
        StickerOptions(outline=0),
        StickerOptions(outline=32, shadow=True),
        StickerOptions(square=True, shadow=True),
        StickerOptions(background=(0, 255, 0), tolerance=80),
    ],
)
def test_make_sticker_obeys_the_platform_rules(options: StickerOptions) -> None:
    scene = sticker_scene(background=(0, 255, 0), spill=0.2)
    sticker = decode_sticker(make_sticker(scene.image, options))
    if options.square:
        assert sticker.size == (512, 512)
    alpha = alpha_of(sticker)
    assert alpha[0].max() == 0 and alpha[:, 0].max() == 0  # transparent margin
    assert alpha[sticker.height // 2, sticker.width // 2] > 0.99


@pytest.mark.parametrize("size", [(1600, 400), (300, 900), (96, 96)])
def test_any_input_size_gives_a_512_sticker(size) -> None:
    image = Image.new("RGB", size, (255, 255, 255))
    w, h = size
    image.paste((30, 90, 200), (w // 8, h // 8, w - w // 8, h - h // 8))
    decode_sticker(make_sticker(image))


def test_outline_is_on_by_default_and_can_be_switched_off() -> None:
    scene = sticker_scene(background=(0, 255, 0))
    with_outline = np.asarray(decode_sticker(make_sticker(scene.image)))
    without = np.asarray(decode_sticker(make_sticker(scene.image, StickerOptions(outline=0))))
    white = (with_outline[..., :3] > 235).all(axis=2) & (with_outline[..., 3] > 250)
    assert white.sum() > 5000
    assert (without[..., 3] > 0).sum() < (with_outline[..., 3] > 0).sum()


def test_output_is_deterministic() -> None:
    scene = sticker_scene(background=(255, 255, 255), seed=3)
    options = StickerOptions(shadow=True)
    first = make_sticker(scene.image, options)
    assert make_sticker(scene.image.copy(), options) == first
    assert discord_server_sticker(first) == discord_server_sticker(first)


def test_already_transparent_input_keeps_its_alpha() -> None:
    image = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    image.paste((0, 255, 0, 255), (100, 100, 200, 200))  # green subject: would be keyed on green
    cut = cutout(image)
    assert alpha_of(cut)[150, 150] == 1.0
    decode_sticker(make_sticker(image))


def test_finish_rgba_then_discord_export() -> None:
    scene = sticker_scene(background=(255, 255, 255))
    finished = finish_rgba(cutout(scene.image), StickerOptions())
    assert max(finished.size) == 512
    png = discord_server_sticker(finished)
    assert len(png) <= 512 * 1024


def test_options_are_validated() -> None:
    with pytest.raises(InvalidRequest):
        StickerOptions(outline=-1)
    with pytest.raises(InvalidRequest):
        StickerOptions(outline=33)
    with pytest.raises(InvalidRequest):
        StickerOptions(background=(0, 300, 0))
    with pytest.raises(InvalidRequest):
        make_sticker(Image.new("RGB", (64, 64)), StickerOptions(matting="magic"))


@pytest.mark.parametrize(
    ("text", "rgb"),
    [
        ("#00ff00", (0, 255, 0)),
        ("0F0", (0, 255, 0)),
        ("white", (255, 255, 255)),
        ("10, 20, 30", (10, 20, 30)),
    ],
)
def test_parse_color(text: str, rgb) -> None:
    assert parse_color(text) == rgb


@pytest.mark.parametrize("text", ["", "#12345", "red-ish", "1,2", "300,0,0"])
def test_parse_color_rejects_junk(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_color(text)


def test_bench_reports_stage_timings() -> None:
    result = bench_postprocess(n=2, warmup=0)
    assert result["runs"] == 2
    assert set(result["stages_median_ms"]) == {"cutout", "layout_effects", "encode"}
    assert result["median_ms"] > 0 and 0 < result["webp_bytes"] < 512_000


def test_threads_give_the_same_bytes() -> None:
    from concurrent.futures import ThreadPoolExecutor

    scenes = [sticker_scene(background=bg, seed=i) for i, bg in enumerate([(255, 255, 255), (0, 255, 0)] * 2)]
    alone = [make_sticker(scene.image) for scene in scenes]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda scene: make_sticker(scene.image), scenes))
    assert together == alone
