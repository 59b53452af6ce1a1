"""The documentation site builds with `mkdocs build --strict`: a broken link, a missing page or a page
left out of the navigation fails here, and the configuration reference matches the models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import AppConfig
from bot.config_reference import MARKER, render

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr  # (never -q: it hides warnings from --strict)
    page = (tmp_path / "site" / "running" / "config" / "index.html").read_text(encoding="utf-8")
    assert MARKER not in page and "max_in_flight" in page and "STICKERBOT_WEB_ADMIN_TOKEN" in page


def test_the_config_reference_lists_every_key() -> None:
    reference = render()
    for section, field in AppConfig.model_fields.items():
        if field.exclude:
            continue
        assert f"## `{section}:`" in reference
        model = field.annotation
        for key, sub in model.model_fields.items():  # type: ignore[union-attr]
            assert f"`{key}`" in reference or f"## `{section}.{key}:`" in reference, (section, key, sub)
