"""The layering the design card fixes: adapters → bot → generator, never back.

`bot/` never imports a chat library; `adapters/` never import torch, diffusers or peft;
`generator/` never imports `bot` or `adapters`. Checked statically on every module, including
imports inside functions. The composition root reaches adapters through importlib only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAT_LIBRARIES = {"telegram", "discord", "aiohttp"}
MODEL_LIBRARIES = {"torch", "diffusers", "peft", "transformers", "accelerate", "safetensors"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", modules("bot"), ids=lambda p: str(p.relative_to(ROOT)))
def test_bot_never_imports_a_chat_library_or_an_adapter(path: Path) -> None:
    bad = imported_roots(path) & (CHAT_LIBRARIES | {"adapters"})
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", modules("adapters"), ids=lambda p: str(p.relative_to(ROOT)))
def test_adapters_never_import_model_libraries(path: Path) -> None:
    bad = imported_roots(path) & MODEL_LIBRARIES
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", modules("generator"), ids=lambda p: str(p.relative_to(ROOT)))
def test_generator_never_imports_bot_or_adapters(path: Path) -> None:
    bad = imported_roots(path) & ({"bot", "adapters"} | CHAT_LIBRARIES)
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_the_generator_contract_is_torch_free() -> None:
    for name in ("api.py", "options.py", "styles.py"):
        assert not imported_roots(ROOT / "generator" / name) & MODEL_LIBRARIES, name


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    import discord.ui\n    from torch import nn\n")
    assert {"discord", "torch"} <= imported_roots(sample)
