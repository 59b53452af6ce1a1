"""`stickerbot generate` with the tiny model: files written and decodable; bad input → one line, exit 2."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from bench.fixtures import write_style
from bot.cli import main


@pytest.fixture
def config_file(tmp_path: Path, tiny_model_dir: Path) -> Path:
    styles = tmp_path / "styles"
    write_style(styles, "otter")
    path = tmp_path / "config.yaml"
    path.write_text(
        f"model:\n  path: {tiny_model_dir}\n  local_files_only: true\n  compile: 'off'\n"
        f"engine:\n  styles_dir: {styles}\n  default_style: otter\n",
        encoding="utf-8",
    )
    return path


def assert_sticker(path: Path) -> None:
    with Image.open(io.BytesIO(path.read_bytes())) as img:
        assert img.format == "WEBP"
        assert img.mode == "RGBA"
        assert max(img.size) == 512


def test_generate_writes_one_sticker(tmp_path: Path, config_file: Path, tiny_model_dir: Path, capsys):
    target = tmp_path / "otter.webp"
    code = main(
        ["generate", "eating otter", "--style", "otter", "-o", str(target), "--config", str(config_file),
         "--model", str(tiny_model_dir), "--seed", "7", "--no-outline"]
    )  # fmt: skip
    assert code == 0
    assert_sticker(target)
    assert "seed 7" in capsys.readouterr().out


def test_generate_several_into_a_directory(tmp_path: Path, config_file: Path):
    out = tmp_path / "out"
    code = main(["generate", "sad otter", "-n", "2", "-o", f"{out}/", "--seed", "3", "--steps", "2",
                 "--config", str(config_file)])  # fmt: skip
    assert code == 0
    files = sorted(out.iterdir())
    assert [f.name for f in files] == ["sad-otter-3.webp", "sad-otter-4.webp"]
    for file in files:
        assert_sticker(file)
    assert files[0].read_bytes() != files[1].read_bytes()


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["   "], "empty"),
        (["x" * 301], "too long"),
        (["otter", "--style", "../../etc/passwd"], "Unknown style"),
        (["otter", "-n", "9"], "between 1 and 4"),
        (["otter", "--steps", "7"], "Steps"),
        (["otter", "-o", "sticker.png"], ".webp"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(tmp_path: Path, config_file: Path, capsys, extra, words):
    code = main(["generate", *extra, "--config", str(config_file)])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("stickerbot: ") and words in lines[0]
    assert list(tmp_path.glob("*.webp")) == []


def test_missing_model_is_one_clear_line(tmp_path: Path, config_file: Path, capsys):
    code = main(["generate", "otter", "--config", str(config_file), "--model", str(tmp_path / "nothing-here"),
                 "-o", str(tmp_path / "x.webp")])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err  # the engine's own log line is not repeated above it
    assert lines[0].startswith("stickerbot: ") and "nothing-here" in lines[0]
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_also_shows_the_engine_log(tmp_path: Path, config_file: Path, capsys, where: str):
    command = ["generate", "otter", "--config", str(config_file), "--model", str(tmp_path / "nothing-here")]
    argv = ["-v", *command] if where == "before" else [*command, "--verbose"]
    code = main(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert "ERROR generator.engine" in lines[0] and "nothing-here" in lines[0]
    assert lines[-1].startswith("stickerbot: ")
