"""`stickerbot run` start-up failures: one clear line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from tests.fakes.postgres import free_port


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """`stickerbot run` installs a log handler on the captured stderr; remove it afterwards."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in list(root.handlers):
        if getattr(handler, "_stickerbot", False):
            root.removeHandler(handler)
    root.setLevel(level)


def test_bad_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bot.yaml"
    config.write_text("limits:\n  max_in_flight: lots\n", encoding="utf-8")
    assert main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert str(config) in err and "limits.max_in_flight" in err and "Traceback" not in err


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_unreachable_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bot.yaml"
    config.write_text(
        f"storage:\n  url: postgresql://bot:hunter2@127.0.0.1:{free_port()}/stickers\n"
        f"  cache_dir: {tmp_path}/cache\nweb:\n  enabled: false\n",
        encoding="utf-8",
    )
    assert main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "cannot connect to PostgreSQL" in err and "hunter2" not in err and "Traceback" not in err
