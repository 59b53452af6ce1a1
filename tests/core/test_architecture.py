"""`bot/` never imports a chat library, and importing the core loads no torch/diffusers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("torch", "diffusers", "transformers", "telegram", "discord", "aiohttp")


def test_core_imports_no_chat_library_or_torch() -> None:
    code = (
        "import sys, bot.app, bot.service, bot.commands.run, bot.storage, bot.config;"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({FORBIDDEN!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_chat_library_import_statements_in_bot() -> None:
    offenders = []
    for path in (ROOT / "bot").rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                module = stripped.split()[1].split(".")[0]
                if module in ("telegram", "discord", "aiohttp", "adapters"):
                    offenders.append(f"{path.relative_to(ROOT)}: {stripped}")
    assert offenders == []
