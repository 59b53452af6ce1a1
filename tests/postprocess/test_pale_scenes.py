"""Cut-outs of pale characters on generated-looking backgrounds (issue 18), scored on a labelled set.

The set (`generator.postprocess.scenes`) is real artwork with alpha, Noto Color Emoji, over seeded
near-white paper with texture, vignette, falloff and a soft contact shadow. Today's flat-key
behaviour stays covered, unchanged, by test_background.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from generator.postprocess import StickerOptions, cut, cutout, finish_rgba
from generator.postprocess.morphology import border_mask, erode, reconstruct
from generator.postprocess.scenes import (
    EmojiFontMissing,
    emoji_font_path,
    fringe_error,
    pale_scene,
    pale_scene_set,
    shadow_kept,
)
from generator.postprocess.synthetic import alpha_iou

NO_OUTLINE = StickerOptions(outline=0)


def _font_or_skip() -> None:
    try:
        emoji_font_path()
    except EmojiFontMissing as exc:  # scripts/test installs fonts-noto-color-emoji
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def scored():
    _font_or_skip()
    rows = []
    for scene in pale_scene_set():
        rgba = np.asarray(cutout(scene.image, NO_OUTLINE))
        rows.append(
            {
                "scene": scene,
                "rgba": rgba,
                "iou": alpha_iou(rgba[..., 3] / 255.0, scene.alpha),
                "fringe": fringe_error(rgba, scene),
                "shadow": shadow_kept(rgba, scene),
            }
        )
    return rows


def test_the_scene_set_is_deterministic_and_realistic() -> None:
    _font_or_skip()
    first, again = pale_scene("👻", 7), pale_scene("👻", 7)
    assert np.array_equal(np.asarray(first.image), np.asarray(again.image))
    assert not np.array_equal(np.asarray(first.image), np.asarray(pale_scene("👻", 8).image))
    pixels = np.asarray(first.image, dtype=np.float32)
    paper = first.alpha == 0
    assert pixels[paper].mean() > 200  # near-white ...
    corners = np.concatenate([pixels[:24, :24].reshape(-1, 3), pixels[-24:, -24:].reshape(-1, 3)])
    assert (
        pixels[paper].std() > 2.0 and corners.mean() < pixels[240:272, :24].mean() + 1
    )  # ... textured, vignetted
    shadow = (first.shadow > 0.06) & paper
    assert shadow.sum() > 500  # a visible contact shadow, not part of the true alpha
    assert pixels[shadow].mean() < pixels[paper & ~shadow].mean() - 10


def test_pale_scenes_meet_the_iou_goals(scored) -> None:
    ious = [row["iou"] for row in scored]
    report = ", ".join(f"{row['scene'].name} {row['iou']:.3f}" for row in scored)
    assert len(ious) >= 16
    assert float(np.mean(ious)) >= 0.95, report
    assert min(ious) >= 0.75, report


def test_contact_shadows_are_removed(scored) -> None:
    kept = [row["shadow"] for row in scored]
    assert max(kept) <= 0.15, kept
    assert float(np.mean(kept)) <= 0.05, kept


def test_no_paper_or_shadow_halo(scored) -> None:
    fringe = [row["fringe"] for row in scored]
    assert float(np.mean(fringe)) <= 12.0, fringe  # today's single-key path: about 30
    assert max(fringe) <= 30.0, fringe


def test_enclosed_white_objects_stay_and_real_holes_go(scored) -> None:
    by_name = {row["scene"].name: row for row in scored}
    for name in ("🍳", "🐼", "🍚"):  # egg white in the pan, the panda's white face, rice in the bowl
        row = by_name[name]
        scene, alpha = row["scene"], row["rgba"][..., 3] / 255.0
        light_inside = (scene.alpha > 0.99) & (scene.foreground.min(axis=-1) > 235)
        assert light_inside.sum() > 300
        assert (alpha[light_inside] > 0.5).mean() > 0.97, name
    donut = by_name["🍩"]
    clear = donut["scene"].alpha < 0.02
    hole = erode(clear & ~reconstruct(clear, clear & border_mask(clear.shape)), 2)
    assert hole.sum() > 200  # the punched hole shows the paper
    assert float((donut["rgba"][..., 3][hole] / 255.0).mean()) < 0.05


def test_the_shadow_option_replaces_the_contact_shadow_with_the_stickers_own() -> None:
    _font_or_skip()
    scene = pale_scene("⛄", 3)
    plain = cut(scene.image, NO_OUTLINE)
    with_shadow = cut(scene.image, StickerOptions(outline=0, shadow=True))
    assert np.array_equal(np.asarray(plain.image), np.asarray(with_shadow.image))  # contact shadow gone
    assert shadow_kept(np.asarray(with_shadow.image), scene) <= 0.15
    finished = np.asarray(finish_rgba(with_shadow.image, StickerOptions(outline=0, shadow=True)))
    bare = np.asarray(finish_rgba(plain.image, NO_OUTLINE))

    def soft_dark(rgba: np.ndarray) -> int:
        return int(((rgba[..., 3] > 0) & (rgba[..., 3] < 160) & (rgba[..., :3].max(axis=-1) < 40)).sum())

    assert soft_dark(finished) > 10 * soft_dark(bare)  # the sticker's own soft drop shadow
