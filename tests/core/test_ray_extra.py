"""Without the `ray` extra, everything that needs Ray answers with one line naming the extra."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bot.app import default_engine
from bot.cli import main
from bot.config import AppConfig, load_config
from generator.api import GenerationFailed
from generator.serve import RAY_MISSING


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """`import ray` fails as it does where the extra is not installed."""
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.serve", None)


def test_serve_without_ray_is_one_line_naming_the_extra(
    no_ray: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--status"]) == 2
    assert capsys.readouterr().err == f"stickerbot: {RAY_MISSING}\n"
    assert RAY_MISSING == "Ray is not installed: pip install 'stickerbot[ray]'"


def test_the_ray_backend_without_ray_is_one_line(no_ray: None, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("engine:\n  backend: ray\n", encoding="utf-8")
    with pytest.raises(GenerationFailed) as raised:
        default_engine(load_config(config))
    assert raised.value.user_message == RAY_MISSING


def test_engine_ray_keys_are_checked_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    cases = {
        "engine:\n  backend: remote\n": "'engine.backend' must be one of local, ray",
        "engine:\n  ray:\n    deployment:\n      replicas: 2\n": (
            "unknown key 'engine.ray.deployment.replicas'"
        ),
        "engine:\n  ray:\n    deployment:\n      autoscaling: {min_replicas: 3, max_replicas: 2}\n": (
            "'engine.ray.deployment.autoscaling' max_replicas (2) must be at least min_replicas (3)"
        ),
        "engine:\n  ray:\n    app: 'a/b'\n": "'engine.ray.app' must be a plain name",
        "engine:\n  ray:\n    deployment:\n      max_ongoing_requests: 0\n": (
            "'engine.ray.deployment.max_ongoing_requests' must be greater than zero"
        ),
    }
    from bot.config import ConfigError

    for text, message in cases.items():
        config.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as raised:
            load_config(config)
        assert "\n" not in str(raised.value)
    assert AppConfig().engine.backend == "local" and AppConfig().engine.ray.address is None
