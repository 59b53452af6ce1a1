"""Animated encoders: every file is decoded and checked against its platform's limits."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from generator.animation.encode import (
    DISCORD_STICKER_MAX_BYTES,
    TELEGRAM_MAX_BYTES,
    check_telegram_webm,
    decode_image_frames,
    decode_webm,
    discord_server_sticker_animated,
    encode_clip,
    encode_telegram_webm,
    format_for_path,
)
from generator.animation.errors import AnimationEncodingFailed
from generator.animation.motion import Clip, animate


@pytest.fixture(scope="module")
def bounce(finished_sticker: Image.Image) -> Clip:
    return animate(finished_sticker, "bounce", fps=24)


def _noisy_clip(frames: int = 90, fps: float = 30.0) -> Clip:
    """Full-frame random colour under a round alpha: as hard to compress as a sticker gets."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:512, :512]
    inside = ((yy - 256) ** 2 + (xx - 256) ** 2) < 230**2
    out = []
    for _ in range(frames):
        rgba = np.zeros((512, 512, 4), np.uint8)
        rgba[..., :3] = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
        rgba[..., 3] = inside * 255
        out.append(Image.fromarray(rgba, "RGBA"))
    return Clip(frames=tuple(out), fps=fps)


def test_telegram_webm_keeps_alpha_and_every_limit(bounce: Clip) -> None:
    data = encode_clip(bounce, "webm")
    assert data[:4] == b"\x1a\x45\xdf\xa3"  # EBML: a Matroska/WebM file
    info = check_telegram_webm(data)
    assert len(data) <= TELEGRAM_MAX_BYTES
    assert (info.width, info.height) == (512, 512)
    assert info.frames == len(bounce.frames) and info.fps == pytest.approx(24.0)
    assert info.duration_s == pytest.approx(1.0, abs=0.05)
    assert not info.has_audio
    assert info.transparent_frames == info.opaque_frames == info.frames
    frames, _ = decode_webm(data)
    # the decoded alpha follows the source alpha (libvpx keeps the alpha plane)
    source = np.asarray(bounce.frames[5].getchannel("A")).astype(int)
    assert np.abs(frames[5][..., 3].astype(int) - source).mean() < 6


def test_webm_alpha_is_lost_by_the_native_decoder(bounce: Clip) -> None:
    """Why the tests decode with libvpx: FFmpeg's own vp9 decoder returns no alpha plane."""
    import av

    data = encode_clip(bounce, "webm")
    with av.open(io.BytesIO(data)) as container:
        frame = next(container.decode(video=0))
        assert "a" not in frame.format.name  # yuv420p


@pytest.mark.slow
def test_telegram_webm_steps_quality_then_frame_rate_down_to_fit() -> None:
    clip = _noisy_clip()
    data = encode_telegram_webm(clip)
    info = check_telegram_webm(data)
    assert len(data) <= TELEGRAM_MAX_BYTES
    assert info.fps < 30  # quality alone was not enough for pure noise
    assert info.duration_s <= 3.0 + 1e-3


def test_telegram_webm_refuses_long_clips(bounce: Clip) -> None:
    long = Clip(frames=bounce.frames * 4, fps=24)
    with pytest.raises(AnimationEncodingFailed, match="at most 3 seconds"):
        encode_telegram_webm(long)


def test_webm_checker_rejects_oversize_and_garbage() -> None:
    with pytest.raises(AnimationEncodingFailed, match="too large"):
        check_telegram_webm(b"\0" * (TELEGRAM_MAX_BYTES + 1))
    with pytest.raises(AnimationEncodingFailed, match="read back"):
        check_telegram_webm(b"not a video")


@pytest.mark.parametrize("fmt", ["gif", "webp", "apng"])
def test_image_formats_animate_with_transparency(bounce: Clip, fmt: str) -> None:
    data = encode_clip(bounce, fmt)
    frames, frame_ms = decode_image_frames(data, fmt)
    assert len(frames) == len(bounce.frames)
    assert frame_ms == pytest.approx(1000 / 24, abs=2.0)  # GIF counts in 10 ms steps
    for frame in frames:
        assert (frame[..., 3] == 0).any() and (frame[..., 3] == 255).any()
    assert not np.array_equal(frames[0], frames[len(frames) // 2])


def test_gif_loops_forever(bounce: Clip) -> None:
    with Image.open(io.BytesIO(encode_clip(bounce, "gif"))) as gif:
        assert gif.info.get("loop") == 0


@pytest.mark.parametrize("fmt", ["apng", "gif"])
def test_discord_server_sticker(bounce: Clip, fmt: str) -> None:
    data = discord_server_sticker_animated(bounce, fmt)
    assert len(data) <= DISCORD_STICKER_MAX_BYTES
    frames, _ = decode_image_frames(data, fmt)
    assert len(frames) > 1 and frames[0].shape == (320, 320, 4)


def test_discord_server_sticker_shrinks_hard_content() -> None:
    data = discord_server_sticker_animated(_noisy_clip(frames=24, fps=24), "apng")
    assert len(data) <= DISCORD_STICKER_MAX_BYTES
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (320, 320) and getattr(image, "n_frames", 1) > 1


def test_format_from_file_name() -> None:
    assert [format_for_path(n) for n in ("a.webm", "b.GIF", "c.webp", "d.png")] == [
        "webm",
        "gif",
        "webp",
        "apng",
    ]
    with pytest.raises(ValueError, match=r"\.webm, \.gif"):
        format_for_path("out.mp4")


def test_missing_pyav_is_one_line_naming_the_extra(bounce: Clip, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from generator.animation.errors import AnimationUnavailable

    monkeypatch.setitem(sys.modules, "av", None)  # `import av` now fails as if it were not installed
    with pytest.raises(AnimationUnavailable) as info:
        encode_clip(bounce, "webm")
    assert info.value.user_message == (
        "Animated WEBM stickers need PyAV, which is not installed: pip install 'stickerbot[animate]'"
    )
    assert len(encode_clip(bounce, "gif")) > 0  # the other formats do not need it
