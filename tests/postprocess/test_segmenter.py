"""The segmentation-model matting plug-in (`segment:<model>`), offline on a tiny random-weight SegFormer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generator.postprocess import MatterUnavailable, StickerOptions, cut, get_matter, make_sticker
from generator.segmenter import SegmenterMatter, build_tiny_segmenter
from tests.postprocess.helpers import decode_sticker


@pytest.fixture(scope="module")
def tiny_segmenter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_segmenter(tmp_path_factory.mktemp("tiny-segmenter"))


def test_a_local_segmentation_model_cuts_out(tiny_segmenter: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    matter = get_matter(f"segment:{tiny_segmenter}")
    assert isinstance(matter, SegmenterMatter)
    assert get_matter(f"segment:{tiny_segmenter}") is matter  # loaded once, reused
    image = Image.new("RGB", (200, 150), (240, 238, 232))
    matte = cut(image, StickerOptions(matting=f"segment:{tiny_segmenter}"))
    assert matte.matter == f"segment:{tiny_segmenter}"
    assert matte.image.mode == "RGBA" and matte.image.size == (200, 150)
    probability = matter.probability(image)
    assert probability.shape == (150, 200) and 0.0 <= probability.min() <= probability.max() <= 1.0
    alpha = np.asarray(matte.image.getchannel("A"))
    assert np.array_equal(alpha, np.rint(probability * 255).astype(np.uint8))
    decode_sticker(make_sticker(image, StickerOptions(matting=f"segment:{tiny_segmenter}")))


def test_weights_other_than_safetensors_are_refused(tiny_segmenter: Path, tmp_path: Path) -> None:
    unsafe = tmp_path / "unsafe"
    unsafe.mkdir()
    (unsafe / "config.json").write_bytes((tiny_segmenter / "config.json").read_bytes())
    (unsafe / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(MatterUnavailable, match="safetensors"):
        SegmenterMatter(str(unsafe)).matte(Image.new("RGB", (32, 32)), StickerOptions())


def test_a_missing_model_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MatterUnavailable, match="could not load the segmentation model"):
        SegmenterMatter("stickerbot-tests/no-such-segmenter").matte(
            Image.new("RGB", (32, 32)), StickerOptions()
        )
