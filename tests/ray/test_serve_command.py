"""`stickerbot serve --config FILE` and `stickerbot serve --status` against the session's cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.cli import main
from generator.options import EngineConfig, ModelConfig

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.timeout(600),
]  # the shared session setup can be slow


def write_config(path: Path, model: ModelConfig, engine: EngineConfig) -> Path:
    """The running app's own options, so `serve` finds nothing to change (no replica restart)."""
    raw = {"model": model.model_dump(), "engine": engine.model_dump()}
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_serve_deploys_and_status_shows_replicas_and_hot_styles(
    main_app: tuple[ModelConfig, EngineConfig], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, engine = main_app
    config = write_config(tmp_path / "config.yaml", model, engine)
    assert main(["serve", "--config", str(config)]) == 0  # the same app again: an update in place
    out = capsys.readouterr().out
    assert "app 'stickerbot-test' on the Ray cluster at " in out and "running" in out
    assert "styles: lora-a, lora-b, otter" in out

    assert main(["serve", "--config", str(config), "--status"]) == 0
    out = capsys.readouterr().out
    assert "replicas: 1 running" in out
    assert "  replica " in out and "hot styles " in out and "images" in out


def test_status_of_an_app_that_is_not_deployed_is_one_line(
    ray_cluster: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("engine:\n  ray:\n    address: auto\n    app: nowhere\n", encoding="utf-8")
    assert main(["serve", "--config", str(config), "--status"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stickerbot: There is no Serve app 'nowhere' on the cluster at ")
    assert "stickerbot serve --config FILE" in err and "\n" not in err
