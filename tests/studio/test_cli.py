"""The studio commands through `stickerbot styles ...`, on the tiny model; bad input exits 2 with one line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from bot.cli import main
from tests.studio.test_teach import cat_photos


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_fuse_and_preview_from_the_command_line(
    tmp_path: Path, tiny_model_dir: Path, make_images: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    styles, runs = tmp_path / "styles", tmp_path / "runs"
    common = ["--model", str(tiny_model_dir), "--styles-dir", str(styles)]
    train = ["styles", "train", "--images", str(make_images(3)), "--subject", "otter", "--out", str(runs)]
    small = ["--resolution", "64", "--steps", "3", "--rank", "2", "--quiet"]
    code, out, err = run(capsys, *train, "--name", "otter", *small, *common)
    assert code == 0, err
    assert "style 'otter' written" in out and "preview sheet" in out
    assert Image.open(runs / "otter" / "preview.png").size == (1064, 628)
    code, out, err = run(
        capsys, *train, "--name", "rabbit", "--trigger", "bunny", "--no-preview", *small, *common
    )
    assert code == 0, err

    code, out, err = run(
        capsys, "styles", "fuse", "otter:0.7", "rabbit:0.5", "--name", "otbit", "--bake", *common
    )
    assert code == 0, err
    assert (styles / "otbit.yaml").is_file() and (styles / "loras" / "otbit.safetensors").is_file()

    sheet = tmp_path / "sheet.png"
    code, out, err = run(capsys, "styles", "preview", "otbit", "-o", str(sheet), "--size", "64", *common)
    assert code == 0, err
    assert Image.open(sheet).size == (1064, 628)


def test_teach_from_the_command_line(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = cat_photos(tmp_path / "photos", 3)
    teach = ["styles", "teach", "--photos", str(photos), "--name", "mycat", "--class", "cat"]
    small = ["--resolution", "64", "--steps", "2", "--rank", "2", "--prior-images", "1", "--no-preview"]
    where = ["--out", str(tmp_path / "runs"), "--model", str(tiny_model_dir)]
    code, out, err = run(capsys, *teach, *small, *where, "--styles-dir", str(tmp_path / "styles"), "--quiet")
    assert code == 0, err
    assert "subject 'sks cat'" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--name", "../evil"], "Invalid style name '../evil'"),
        (["--name", "ok", "--images", "EMPTY"], "No training images"),
        (["--name", "ok", "--steps", "0"], "--steps must be"),
        (["--name", "ok", "--background", "plaid"], "Invalid colour 'plaid'"),
        (["--name", "ok", "--subject", "bad\x07subject"], "contains control characters"),
    ],
)
def test_bad_training_input_gets_one_clear_line(
    tmp_path: Path,
    tiny_model_dir: Path,
    make_images: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    images = make_images(2)
    empty = tmp_path / "empty"
    empty.mkdir()
    args = ["styles", "train", "--images", str(images), "--subject", "otter", "--resolution", "64", "--quiet"]
    args += [str(empty) if item == "EMPTY" else item for item in extra]
    args += [
        "--model",
        str(tiny_model_dir),
        "--styles-dir",
        str(tmp_path / "styles"),
        "--out",
        str(tmp_path / "r"),
    ]
    code, _, err = run(capsys, *args)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert err.startswith("stickerbot: ") and err.count("\n") == 1


def test_fuse_and_preview_of_unknown_styles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    styles = tmp_path / "styles"
    styles.mkdir()
    code, _, err = run(
        capsys, "styles", "fuse", "otter", "rabbit", "--name", "x", "--styles-dir", str(styles)
    )
    assert code == 2 and "style" in err and "otter" in err
    code, _, err = run(capsys, "styles", "preview", "../../etc", "--styles-dir", str(styles))
    assert code == 2 and "Invalid style name" in err
