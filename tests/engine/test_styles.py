"""Style files: the shipped ones validate, broken ones give errors naming the file and the field."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bot.cli import main as cli_main
from generator.api import StyleError, StyleSummary, UnknownStyle
from generator.styles import DEFAULT_TEMPLATE, StyleRegistry, load_style_file

SHIPPED = Path(__file__).resolve().parents[2] / "styles"
VALID = "name: demo\ndescription: A demo.\ntrigger: dm-sticker\n"


def write(tmp_path: Path, text: str, name: str = "demo.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def style_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(StyleError) as info:
        load_style_file(write(tmp_path, text))
    return info.value.user_message


def test_every_shipped_style_validates() -> None:
    registry = StyleRegistry.load(SHIPPED, strict=True)
    assert {"otter", "rabbit", "redmond"} <= set(registry.names())
    assert registry.errors == {}
    otter = registry.get("otter")
    assert otter.template == "{expression}, {subject}, {trigger}"
    assert otter.build_prompt("eating") == "eating, otter, dm-sticker"
    assert not otter.loras
    redmond = registry.get("redmond")
    assert redmond.loras[0].source == "artificialguybr/StickersRedmond"
    assert redmond.loras[0].weight_name == "StickersRedmond.safetensors"
    assert not redmond.loras[0].is_local


def test_shipped_styles_load_without_torch() -> None:
    # The bot lists styles without the model: generator.styles must not pull in torch.
    code = "import sys, generator.styles; assert 'torch' not in sys.modules"
    import subprocess

    subprocess.run([sys.executable, "-c", code], check=True, cwd=SHIPPED.parent)


def test_defaults_and_summary(tmp_path: Path) -> None:
    spec = load_style_file(write(tmp_path, VALID))
    assert spec.template == DEFAULT_TEMPLATE
    assert spec.subject == "character"
    assert (spec.steps, spec.outline, spec.background, spec.matting) == (1, True, (255, 255, 255), None)
    summary = StyleRegistry([spec]).summary("demo")
    assert isinstance(summary, StyleSummary)
    assert summary.trigger == "dm-sticker"
    assert summary.template.format(expression="sad", subject="otter", trigger=summary.trigger) == (
        "sad, otter, dm-sticker"
    )


def test_full_style_with_lists_and_colours(tmp_path: Path) -> None:
    text = (
        "name: full_1\ndescription: All fields.\ntriggers: [a, b]\n"
        "template: '{subject} {expression} {trigger}'\n"
        "subject: fox\nnegative_prompt: blurry\nbackground: [0, 255, 0]\nsteps: 4\noutline: false\n"
        "matting: rembg:u2net\nloras:\n  - source: loras/x.safetensors\n    scale: 0.5\n"
        "  - source: someone/repo\n    weight_name: w.safetensors\n    revision: v1\n"
    )
    spec = load_style_file(write(tmp_path, text))
    assert spec.trigger == "a, b"
    assert spec.background == (0, 255, 0)
    assert (spec.steps, spec.outline, spec.matting) == (4, False, "rembg:u2net")
    local, hub = spec.loras
    assert local.local_path == (tmp_path / "loras" / "x.safetensors").absolute()
    assert local.scale == 0.5
    assert (hub.source, hub.weight_name, hub.revision, hub.is_local) == (
        "someone/repo",
        "w.safetensors",
        "v1",
        False,
    )
    assert load_style_file(write(tmp_path, VALID + "background: '#FF00ff'\n")).background == (255, 0, 255)


def test_prompt_template_keeps_braces_in_user_text(tmp_path: Path) -> None:
    spec = load_style_file(write(tmp_path, VALID + "subject: otter\n"))
    assert spec.build_prompt("{trigger} {0}") == "{trigger} {0}, otter, dm-sticker"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: [unclosed\n", "is not valid YAML at line"),
        ("- just\n- a list\n", "must be a mapping"),
        ("description: no name\n", "field 'name' is required"),
        ("name: demo\n", "field 'description' is required"),
        ("name: 42\ndescription: x\n", "field 'name' must be text, not int"),
        ("name: ../../etc/passwd\ndescription: x\n", "field 'name' must be 1-32 characters"),
        ("name: Otter\ndescription: x\n", "field 'name' must be 1-32 characters"),
        (VALID + "steps: 5\n", "field 'steps' must be a whole number from 1 to 4"),
        (VALID + "steps: '1'\n", "field 'steps' must be a whole number"),
        (VALID + "outline: maybe\n", "field 'outline' must be true or false"),
        (VALID + "background: purple-ish\n", "field 'background' must be one of"),
        (VALID + "background: [0, 300, 0]\n", "field 'background' must be one of"),
        (VALID + "template: '{expression} {mood}'\n", "unknown placeholder {mood}"),
        (VALID + "template: '{subject} only'\n", "must contain {expression}"),
        (VALID + "colour: red\n", "field 'colour' is not a known field"),
        (VALID + "matting: magic\n", "field 'matting' must be 'flood' or 'rembg:<model>'"),
        (VALID + "loras: yes\n", "field 'loras' must be a list"),
        (VALID + "loras:\n  - scale: 1\n", "field 'loras[0].source' is required"),
        (VALID + "loras:\n  - source: x.ckpt\n", "field 'loras[0].source' must be a .safetensors file"),
        (VALID + "loras:\n  - source: x.bin\n", "must be a .safetensors file"),
        (VALID + "loras:\n  - source: a/b\n    weight_name: w.bin\n", "field 'loras[0].weight_name' must be"),
        (VALID + "loras:\n  - source: a/b\n", "field 'loras[0].weight_name' is required"),
        (
            VALID + "loras:\n  - source: a/b\n    weight_name: ../w.safetensors\n",
            "must be a .safetensors file",
        ),
        (VALID + "loras:\n  - source: x.safetensors\n    scale: big\n", "field 'loras[0].scale' must be"),
        (VALID + "loras:\n  - source: ../x.safetensors\n", "field 'loras[0].source' must not climb out"),
        (VALID + "loras:\n  - source: a/../../x.safetensors\n", "must not climb out with '..'"),
        (VALID + "loras:\n  - source: x.safetensors\n    rank: 4\n", "field 'loras[0].rank' is not a known"),
    ],
)
def test_broken_style_files_name_file_and_field(tmp_path: Path, text: str, expected: str) -> None:
    message = style_error(tmp_path, text)
    assert message.startswith("Style file demo.yaml: ")
    assert expected in message


def test_unreadable_and_oversized_files(tmp_path: Path) -> None:
    binary = tmp_path / "demo.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(StyleError, match=r"demo\.yaml: is not UTF-8"):
        load_style_file(binary)
    assert "larger than 64 KB" in style_error(tmp_path, VALID + "# " + "x" * 70_000 + "\n")


def test_registry_skips_broken_files_and_keeps_the_rest(tmp_path: Path) -> None:
    write(tmp_path, VALID, "good.yaml")
    write(tmp_path, "name: [broken\n", "bad.yaml")
    registry = StyleRegistry.load(tmp_path)
    assert registry.names() == ["demo"]
    assert "bad.yaml" in registry.errors and "not valid YAML" in registry.errors["bad.yaml"]
    with pytest.raises(StyleError, match=r"bad\.yaml"):
        StyleRegistry.load(tmp_path, strict=True)


def test_registry_rejects_duplicate_names(tmp_path: Path) -> None:
    write(tmp_path, VALID, "one.yaml")
    write(tmp_path, VALID, "two.yaml")
    with pytest.raises(StyleError, match=r"two\.yaml: field 'name' repeats 'demo'"):
        StyleRegistry.load(tmp_path)


@pytest.mark.parametrize(
    "name", ["nope", "../styles/otter", "otter.yaml", "/etc/passwd", "", "OTTER", "x" * 500]
)
def test_user_style_names_are_only_looked_up(name: str) -> None:
    registry = StyleRegistry.load(SHIPPED)
    with pytest.raises(UnknownStyle) as info:
        registry.get(name)
    assert "Available styles: otter, rabbit, redmond" in info.value.user_message
    assert "/" not in info.value.user_message.split(".")[0]  # a path-like name is not echoed back
    assert name not in registry


def test_cli_styles_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["styles", "list", "--styles-dir", str(SHIPPED)]) == 0
    listing = capsys.readouterr().out
    assert "otter" in listing and "redmond" in listing and "[1 LoRA]" in listing
    assert cli_main(["styles", "show", "otter", "--styles-dir", str(SHIPPED)]) == 0
    shown = capsys.readouterr().out
    assert "example:" in shown and "happy, otter, dm-sticker" in shown
    assert cli_main(["styles", "show", "missing", "--styles-dir", str(SHIPPED)]) == 2
    assert "Unknown style 'missing'" in capsys.readouterr().err
