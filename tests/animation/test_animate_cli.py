"""`stickerbot animate`, `generate --animate` and `dev tiny-motion-adapter` (tiny model, offline)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from bench.fixtures import write_style
from bot.cli import main
from generator.animation.encode import check_telegram_webm, decode_image_frames


@pytest.fixture
def sticker_file(tmp_path: Path, finished_sticker: Image.Image) -> Path:
    path = tmp_path / "sticker.webp"
    finished_sticker.save(path, "WEBP", lossless=True)
    return path


@pytest.mark.parametrize(("suffix", "fmt"), [(".gif", "gif"), (".webp", "webp"), (".png", "apng")])
def test_animate_writes_the_format_of_the_suffix(
    tmp_path: Path, sticker_file: Path, suffix: str, fmt: str, capsys
):
    out = tmp_path / f"out{suffix}"
    assert main(["animate", str(sticker_file), "--motion", "pulse", "--fps", "12", "-o", str(out)]) == 0
    frames, _ = decode_image_frames(out.read_bytes(), fmt)
    assert len(frames) == 12
    assert f"({fmt}, 12 frames" in capsys.readouterr().out


def test_animate_webm_is_a_valid_video_sticker(tmp_path: Path, sticker_file: Path):
    out = tmp_path / "out.webm"
    assert main(["animate", str(sticker_file), "--motion", "bounce", "-o", str(out), "--discord-sticker",
                 str(tmp_path / "d.gif")]) == 0  # fmt: skip
    info = check_telegram_webm(out.read_bytes())
    assert info.frames == 24 and not info.has_audio
    with Image.open(tmp_path / "d.gif") as gif:
        assert gif.size == (320, 320) and gif.n_frames > 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--motion", "moonwalk"], "I don't know the motion 'moonwalk'"),
        (["-o", "out.mp4"], "should end in .webm, .gif, .webp or .png"),
        (["--duration", "9"], "Duration must be"),
        (["--motion", "diffusion"], "diffusion needs a prompt"),
    ],
)
def test_animate_bad_input_is_one_line(
    sticker_file: Path, tmp_path: Path, args: list[str], message: str, capsys
):
    argv = ["animate", str(sticker_file), *args]
    if "-o" not in args:
        argv += ["-o", str(tmp_path / "x.gif")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_animate_missing_file(tmp_path: Path, capsys):
    assert main(["animate", str(tmp_path / "nope.webp"), "-o", str(tmp_path / "x.gif")]) == 2
    assert "No such image file" in capsys.readouterr().err


@pytest.fixture(scope="session")
def tiny_adapter_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("tiny-motion") / "adapter"
    assert main(["dev", "tiny-motion-adapter", str(target)]) == 0
    return target


def _config(tmp_path: Path, model: Path, adapter: str) -> Path:
    styles = tmp_path / "styles"
    write_style(styles, "otter")
    path = tmp_path / "config.yaml"
    path.write_text(
        f"model:\n  path: {model}\n  local_files_only: true\n  compile: 'off'\n  motion_adapter: {adapter}\n"
        f"engine:\n  styles_dir: {styles}\n  default_style: otter\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
def test_generate_animate_preset(tmp_path: Path, tiny_model_dir: Path, capsys):
    config = _config(tmp_path, tiny_model_dir, "null")
    out = tmp_path / "otter.webm"
    assert (
        main(
            ["generate", "waving otter", "--animate", "-o", str(out), "--seed", "3", "--config", str(config)]
        )
        == 0
    )
    assert "motion wave" in capsys.readouterr().out  # chosen by the expression
    check_telegram_webm(out.read_bytes())


@pytest.mark.slow
def test_generate_animate_diffusion_on_the_tiny_adapter(
    tmp_path: Path, tiny_model_dir: Path, tiny_adapter_dir: Path
):
    config = _config(tmp_path, tiny_model_dir, str(tiny_adapter_dir))
    out = tmp_path / "otter.webm"
    argv = [
        "generate",
        "otter",
        "--animate",
        "diffusion",
        "-o",
        str(out),
        "--seed",
        "5",
        "--config",
        str(config),
    ]
    assert main(argv) == 0
    info = check_telegram_webm(out.read_bytes())
    assert info.frames == 8 and (info.width, info.height) == (512, 512)


def test_generate_animate_diffusion_without_adapter_is_one_line(tmp_path: Path, tiny_model_dir: Path, capsys):
    config = _config(tmp_path, tiny_model_dir, str(tmp_path / "no-such-adapter"))
    argv = [
        "generate",
        "otter",
        "--animate",
        "diffusion",
        "-o",
        str(tmp_path / "o.webm"),
        "--config",
        str(config),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "motion adapter" in err and "motion presets still work" in err and "Traceback" not in err
