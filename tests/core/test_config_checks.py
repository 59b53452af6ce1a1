"""Config checks from the hardening issue: YAML's `off`, tokens written in the file, ports in use."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import pytest

from bot.app import App
from bot.cli import main
from bot.config import AppConfig, ConfigError, EnvSettings, MetricsConfig, load_config
from bot.service import with_storage_under
from tests.fakes.fake_engine import FakeEngine


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


def test_bare_off_in_yaml_means_compile_off(tmp_path: Path) -> None:
    # YAML 1.1 reads `off` as false; the example lists `off` among the choices.
    assert load_config(write(tmp_path, "model:\n  compile: off\n"), env={}).model.compile == "off"
    with pytest.raises(ConfigError, match=r"'model\.compile' must be one of auto, off, regional, full"):
        load_config(write(tmp_path, "model:\n  compile: on\n"), env={})


def test_a_token_written_in_the_file_gets_one_warning_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "telegram:\n  token: 123:abc-secret\n")
    with caplog.at_level(logging.WARNING, logger="bot.config"):
        load_config(path, env={})
    (record,) = caplog.records
    message = record.getMessage()
    assert "'telegram.token'" in message and "STICKERBOT_TELEGRAM_TOKEN" in message and str(path) in message
    assert "abc-secret" not in message and "\n" not in message


def test_a_world_readable_file_with_a_token_is_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "web:\n  admin_token: s3cret-admin\n", mode=0o644)
    with caplog.at_level(logging.WARNING, logger="bot.config"):
        load_config(path, env={})
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "every user of this machine can read it" in messages[1] and "chmod 600" in messages[1]
    assert not any("s3cret-admin" in m for m in messages)


def test_no_warning_without_tokens_in_the_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, "web:\n  port: 9000\n", mode=0o644)
    with caplog.at_level(logging.WARNING, logger="bot.config"):
        load_config(path, env={"STICKERBOT_WEB_ADMIN_TOKEN": "from-env"})
    assert caplog.records == []


def test_environment_settings_are_read_by_pydantic_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STICKERBOT_DISCORD_TOKEN", " discord-secret ")
    monkeypatch.setenv("STICKERBOT_CONFIG", "/etc/stickerbot.yaml")
    settings = EnvSettings.read()
    assert settings.config == "/etc/stickerbot.yaml"
    assert settings.secrets() == {"discord.token": "discord-secret"}
    assert "discord-secret" not in repr(settings)
    assert load_config(None).discord.token == "discord-secret"


def _occupied_port() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


async def test_web_port_in_use_names_the_key(tmp_path: Path) -> None:
    with _occupied_port() as sock:
        port = sock.getsockname()[1]
        config = with_storage_under(AppConfig(), tmp_path)
        config.web.port = port
        app = App(config, engine=FakeEngine())
        with pytest.raises(ConfigError) as info:
            await app.start()
    assert str(info.value) == (
        f"defaults: 'web.port' {port} is already in use (another stickerbot running?): choose another port"
    )


async def test_metrics_port_in_use_names_the_key(tmp_path: Path) -> None:
    with _occupied_port() as sock:
        port = sock.getsockname()[1]
        config = with_storage_under(AppConfig(metrics=MetricsConfig(enabled=True, port=port)), tmp_path)
        config.web.enabled = False
        with pytest.raises(ConfigError, match=rf"'metrics.port' {port} is already in use"):
            await App(config, engine=FakeEngine()).start()


@pytest.mark.slow
def test_run_says_the_port_is_in_use_in_one_line(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _occupied_port() as sock:
        port = sock.getsockname()[1]
        path = write(
            tmp_path,
            f"model:\n  path: {tiny_model_dir}\n  local_files_only: true\n  warmup: false\n"
            f"storage:\n  url: sqlite:///{tmp_path}/db.sqlite\n  cache_dir: {tmp_path}/cache\n"
            f"web:\n  port: {port}\n",
        )
        assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"stickerbot: {path}: 'web.port' {port} is already in use" in err
    assert "Traceback" not in err


def test_the_old_negative_prompt_key_is_accepted_with_a_warning(tmp_path, caplog) -> None:
    from bot.config import load_config

    path = tmp_path / "config.yaml"
    path.write_text("safety:\n  negative_prompt: nsfw, gore\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="bot.config"):
        config = load_config(path)
    assert config.safety.negative_prompt == "nsfw, gore"
    (record,) = [r for r in caplog.records if "negative_prompt" in r.getMessage()]
    assert "has no effect" in record.getMessage() and "\n" not in record.getMessage()
