"""`stickerbot cutout`, run in-process through the real argument parser."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bot.cli import main
from generator.postprocess.synthetic import sticker_scene
from tests.postprocess.helpers import decode_sticker


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.jpg"
    sticker_scene(background=(0, 255, 0), spill=0.2).image.save(path, quality=90)
    return path


def test_cutout_writes_a_sticker_and_a_discord_png(photo, tmp_path, capsys) -> None:
    out = tmp_path / "sticker.webp"
    png = tmp_path / "server.png"
    code = main(["cutout", str(photo), "-o", str(out), "--shadow", "--discord-png", str(png)])
    assert code == 0
    decode_sticker(out.read_bytes())
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (320, 320)
    assert png.stat().st_size <= 512 * 1024
    printed = capsys.readouterr().out
    assert "removed background #" in printed and "320x320" in printed


def test_outline_flags(photo, tmp_path) -> None:
    plain, thick = tmp_path / "plain.webp", tmp_path / "thick.webp"
    assert main(["cutout", str(photo), "-o", str(plain), "--no-outline"]) == 0
    assert main(["cutout", str(photo), "-o", str(thick), "--outline", "20", "--square"]) == 0
    plain_alpha = np.asarray(decode_sticker(plain.read_bytes()).getchannel("A"))
    thick_image = decode_sticker(thick.read_bytes())
    assert thick_image.size == (512, 512)
    assert (np.asarray(thick_image.getchannel("A")) > 0).sum() > (plain_alpha > 0).sum()


def test_background_option_and_default_output_name(photo) -> None:
    assert main(["cutout", str(photo), "--background", "#00ff00"]) == 0
    decode_sticker((photo.parent / "photo.sticker.webp").read_bytes())


@pytest.mark.parametrize(
    ("make_input", "extra", "message"),
    [
        (lambda p: p.write_bytes(b"hello"), [], "not an image"),
        (lambda p: None, [], "No such image file"),
        (lambda p: Image.new("RGB", (80, 80), "white").save(p, "PNG"), [], "single flat colour"),
        (lambda p: Image.new("RGB", (80, 80), "white").save(p, "PNG"), ["--outline", "99"], "outline width"),
        (
            lambda p: Image.new("RGB", (80, 80), "white").save(p, "PNG"),
            ["--background", "nope"],
            "Not a colour",
        ),
    ],
)
def test_bad_input_gets_a_short_message_and_exit_code_2(tmp_path, capsys, make_input, extra, message) -> None:
    path = tmp_path / "input.png"
    make_input(path)
    code = main(["cutout", str(path), "-o", str(tmp_path / "out.webp"), *extra])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out.webp").exists()


def test_strict_mode_refuses_a_busy_picture(tmp_path, capsys) -> None:
    path = tmp_path / "busy.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(path)
    assert main(["cutout", str(path), "-o", str(tmp_path / "a.webp")]) == 0
    assert "kept the whole image" in capsys.readouterr().out
    assert main(["cutout", str(path), "-o", str(tmp_path / "b.webp"), "--strict"]) == 2
    assert "plain background" in capsys.readouterr().err


def test_unwritable_output_is_reported(photo, tmp_path, capsys) -> None:
    code = main(["cutout", str(photo), "-o", str(tmp_path / "no-such-dir" / "x.webp")])
    assert code == 2
    assert "Could not write" in capsys.readouterr().err


def test_transparent_png_input(tmp_path) -> None:
    path = tmp_path / "cut.png"
    image = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    image.paste((200, 30, 30, 255), (20, 20, 180, 80))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    assert main(["cutout", str(path), "-o", str(tmp_path / "out.webp")]) == 0
    assert decode_sticker((tmp_path / "out.webp").read_bytes()).size[0] == 512


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["-o", "y.png"], "--discord-png"),  # before: WebP bytes were written into y.png
        (["-o", "y.webp", "--discord-png", "z.webp"], ".png"),
        (["-o", "no-such-dir/y.webp"], "does not exist"),
    ],
)
def test_outputs_follow_one_rule(photo, tmp_path, capsys, flags, words) -> None:
    flags = [str(tmp_path / f) if not f.startswith("-") else f for f in flags]
    code = main(["cutout", str(photo), *flags])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("stickerbot: ") and words in err[0]
    assert [p.name for p in tmp_path.iterdir()] == [photo.name]  # nothing written, no folder made
