"""Encoders: the 512 px / 512,000-byte WebP rule and the Discord 320x320 / 512 KiB PNG rule,
checked by decoding every output."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from generator.postprocess import (
    DISCORD_MAX_BYTES,
    EncodingFailed,
    discord_server_sticker,
    encode_sticker_webp,
)
from generator.postprocess import encode as encode_module
from tests.postprocess.helpers import decode_sticker


def _noise(width: int, height: int, seed: int = 0) -> Image.Image:
    """High-entropy colour and alpha: the worst case for any encoder."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 4), dtype=np.uint8), "RGBA")


def test_noise_needs_quality_stepping_to_fit(monkeypatch) -> None:
    image = _noise(512, 512)
    first_try = io.BytesIO()
    image.save(first_try, "WEBP", quality=100, alpha_quality=100, method=encode_module.WEBP_METHOD)
    assert len(first_try.getvalue()) > 512_000  # too large at the starting quality
    tries: list[tuple[int, int]] = []
    real = encode_module._webp

    def counting(img, quality, alpha_quality):
        tries.append((quality, alpha_quality))
        return real(img, quality, alpha_quality)

    monkeypatch.setattr(encode_module, "_webp", counting)
    data = encode_sticker_webp(image, quality=100)
    assert len(tries) >= 2 and tries[0] == (100, 100)
    decoded = decode_sticker(data)
    assert decoded.size == (512, 512)


def test_a_tighter_cap_steps_further_down() -> None:
    data = encode_sticker_webp(_noise(512, 300, seed=1), max_bytes=60_000)
    assert len(data) < 60_000
    assert decode_sticker(data).size == (512, 300)


def test_last_resort_still_fits() -> None:
    # Below what the lowest quality reaches for pure noise (~50 kB): only the silhouette fallback
    # fits (a random binary alpha plane alone carries 32 kB of information).
    data = encode_sticker_webp(_noise(512, 512, seed=2), max_bytes=40_000)
    assert len(data) < 40_000
    decode_sticker(data)


def test_clean_sticker_keeps_high_quality() -> None:
    image = Image.new("RGBA", (512, 400), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse(
        (20, 20, 490, 380), fill=(240, 140, 40, 255), outline=(20, 20, 20, 255), width=6
    )
    data = encode_sticker_webp(image)
    decoded = np.asarray(decode_sticker(data))
    assert decoded.shape == (400, 512, 4)
    assert abs(int(decoded[200, 256, 0]) - 240) <= 4  # colours survive
    assert decoded[0, 0, 3] == 0 and decoded[200, 256, 3] == 255  # alpha is exact


def test_wrong_size_is_refused() -> None:
    with pytest.raises(EncodingFailed):
        encode_sticker_webp(Image.new("RGBA", (300, 300)))


def _check_discord(data: bytes) -> Image.Image:
    assert len(data) <= DISCORD_MAX_BYTES
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        image.load()
        assert image.size == (320, 320)
        return image.convert("RGBA")


@pytest.mark.parametrize("size", [(512, 512), (512, 200), (100, 512)])
def test_discord_export_from_an_image(size) -> None:
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((0, 0, size[0] - 1, size[1] - 1), fill=(10, 200, 10, 255))
    out = _check_discord(discord_server_sticker(image))
    alpha = np.asarray(out.getchannel("A"))
    if size[0] != size[1]:  # padded to a square with transparency
        assert alpha[0, 0] == 0 or alpha[-1, -1] == 0
    assert alpha[160, 160] == 255


def test_discord_export_from_webp_bytes_and_noise() -> None:
    webp = encode_sticker_webp(_noise(512, 512, seed=3))
    _check_discord(discord_server_sticker(webp))
    _check_discord(discord_server_sticker(_noise(320, 320, seed=4)))
