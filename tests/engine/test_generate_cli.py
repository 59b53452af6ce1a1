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


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("stickerbot: ") and "Traceback" not in err[0]
    return err[0]


def test_a_missing_hub_model_is_one_clean_sentence(tmp_path: Path, config_file: Path, capsys):
    """Before: the advice named `huggingface-cli` and the line ended in the library's exception text."""
    model = "stickerbot-tests/no-such-model"
    code = main(["generate", "otter", "--config", str(config_file), "--model", model,
                 "-o", str(tmp_path / "x.webp")])  # fmt: skip
    assert code == 2
    line = one_error_line(capsys)
    assert "`hf download stickerbot-tests/no-such-model`" in line and "huggingface-cli" not in line
    assert "LocalEntryNotFoundError" not in line and "local_files_only" not in line
    assert line.endswith("directory.")


def test_an_unavailable_style_is_one_clean_sentence(tmp_path: Path, config_file: Path, capsys):
    styles = tmp_path / "styles"
    write_style(styles, "otter", loras=[(tmp_path / "gone.safetensors", 1.0)])
    code = main(["generate", "otter", "--config", str(config_file), "-o", str(tmp_path / "x.webp")])
    assert code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == "stickerbot: The style 'otter' is unavailable right now."  # the reason is logged above


def test_several_stickers_never_make_a_folder_named_like_a_file(tmp_path: Path, config_file: Path, capsys):
    """Before: `-n 2 -o two.webp` created a directory called two.webp."""
    target = tmp_path / "two.webp"
    code = main(["generate", "otter", "-n", "2", "-o", str(target), "--config", str(config_file)])
    assert code == 2
    assert "give a folder" in one_error_line(capsys)
    assert not target.exists()


@pytest.mark.parametrize(("output", "count"), [("missing/x.webp", "1"), ("missing/deeper/", "2")])
def test_a_missing_parent_folder_is_refused_before_any_work(
    tmp_path: Path, config_file: Path, capsys, output: str, count: str
):
    """The rule `cutout` follows too: only the last folder of `-o DIR/` is ever created. Before,
    `generate` created any missing folders (and only after drawing)."""
    code = main(
        ["generate", "otter", "-n", count, "-o", str(tmp_path / output), "--config", str(config_file)]
    )
    assert code == 2
    assert "does not exist" in one_error_line(capsys)
    assert not (tmp_path / "missing").exists()


def test_the_prompt_is_screened_like_in_a_chat(tmp_path: Path, config_file: Path, capsys):
    """Before: `generate` skipped the safety filter."""
    target = tmp_path / "x.webp"
    code = main(["generate", "sexy otter", "-o", str(target), "--config", str(config_file)])
    assert code == 2
    assert "can't make that sticker" in one_error_line(capsys)
    assert not target.exists()


def test_typed_emoji_become_the_expression_like_in_a_chat(tmp_path: Path, config_file: Path):
    """Before: "😭 otter" reached the model with the emoji in it; now it is drawn as "crying loudly"."""
    emoji, words = tmp_path / "emoji.webp", tmp_path / "words.webp"
    common = ["--seed", "5", "--config", str(config_file)]
    assert main(["generate", "😭 otter", "-o", str(emoji), *common]) == 0
    assert main(["generate", "crying loudly otter", "-o", str(words), *common]) == 0
    assert emoji.read_bytes() == words.read_bytes()


def test_options_typed_in_the_prompt_work_like_in_a_chat(tmp_path: Path, config_file: Path):
    out = tmp_path / "out"
    code = main(["generate", "sad otter n:2 seed:3", "-o", f"{out}/", "--config", str(config_file)])
    assert code == 0
    assert sorted(f.name for f in out.iterdir()) == ["sad-otter-3.webp", "sad-otter-4.webp"]
