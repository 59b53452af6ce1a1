"""The layering as import-linter contracts (`[tool.importlinter]` in pyproject.toml): adapters → bot →
generator, never back; `bot/` never imports a chat library; adapters never import torch, diffusers or
`generator`; the generator's contract, options and styles load no torch. `lint-imports` checks every
module, including imports inside functions."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path, extra_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    if extra_path is not None:
        env["PYTHONPATH"] = str(extra_path)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_code_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _contracts_toml() -> str:
    """The project's own contracts, as a TOML file for a scratch tree."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    lines = ["[tool.importlinter]", 'root_packages = ["adapters", "bot", "generator"]']
    lines.append("include_external_packages = true")
    for contract in config["contracts"]:
        lines.append("[[tool.importlinter.contracts]]")
        lines += [f"{key} = {_toml(value)}" for key, value in contract.items()]
    return "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace('"', '\\"') + '"'


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        ("bot/x.py", "import discord\n", "bot never imports a chat library"),
        ("bot/x.py", "def f():\n    from adapters import web\n", "Layers"),
        ("adapters/web.py", "from generator import engine\n", "adapters never import torch"),
        ("adapters/web.py", "def f():\n    import torch\n", "adapters never import torch"),
        ("generator/engine.py", "import bot.x\n", "generator never imports the bot"),
        ("generator/styles.py", "import generator.engine\n", "load no torch"),
    ],
)
def test_the_contracts_catch_a_violation(tmp_path: Path, module: str, source: str, broken: str) -> None:
    for package in ("adapters", "bot", "generator"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    for name in ("api", "options", "styles", "style_schema"):
        (tmp_path / "generator" / f"{name}.py").write_text("")
    (tmp_path / "generator" / "engine.py").write_text("import torch\n")
    (tmp_path / "bot" / "x.py").write_text("import generator.api\n")
    (tmp_path / "adapters" / "web.py").write_text("import bot.x\n")
    (tmp_path / module).write_text((tmp_path / module).read_text() + source)
    (tmp_path / "pyproject.toml").write_text(_contracts_toml())
    result = lint_imports(tmp_path, extra_path=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    report = " ".join(result.stdout.split())  # lint-imports wraps long contract names
    summary = report[report.index("dependencies.") :]
    verdict = re.search(re.escape(broken) + r".*?\b(KEPT|BROKEN)\b", summary)
    assert verdict is not None and verdict.group(1) == "BROKEN", result.stdout
