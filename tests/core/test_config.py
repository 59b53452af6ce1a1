from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from bot.config import AppConfig, ConfigError, load_config
from bot.config_errors import known_keys
from bot.logs import configure_logging

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_means_defaults_with_the_web_room_on() -> None:
    config = load_config(None, env={})
    assert config.web.enabled and config.web.host == "127.0.0.1"
    assert not config.telegram.enabled and not config.discord.enabled
    assert config.storage.url.startswith("sqlite:///")


def test_example_config_is_the_defaults() -> None:
    config = load_config(EXAMPLE, env={})
    defaults = AppConfig()
    defaults.source = EXAMPLE
    base = EXAMPLE.resolve().parent  # relative paths in a config file are relative to the file
    defaults.engine.styles_dir = str(base / "styles")
    defaults.storage.cache_dir = str(base / "data" / "cache")
    defaults.storage.url = f"sqlite:///{base}/data/stickerbot.db"
    defaults.teach.data_dir = str(base / "data" / "teach")
    assert config == defaults


def test_relative_paths_follow_the_config_file(tmp_path: Path) -> None:
    conf = tmp_path / "conf" / "bot.yaml"
    conf.parent.mkdir()
    conf.write_text(
        "engine:\n  styles_dir: my-styles\nstorage:\n  url: sqlite:///db/s.db\n  cache_dir: /abs/cache\n"
    )
    config = load_config(conf, env={})
    assert config.engine.styles_dir == str(conf.parent.resolve() / "my-styles")
    assert config.storage.url == f"sqlite:///{conf.parent.resolve()}/db/s.db"
    assert config.storage.cache_dir == "/abs/cache"


def test_without_a_config_the_shipped_styles_are_found_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    styles_dir = Path(load_config(None, env={}).engine.styles_dir)
    assert styles_dir.is_absolute() and (styles_dir / "otter.yaml").is_file()


def _field_paths(cls: type[BaseModel], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for name in known_keys(cls):
        annotation = cls.model_fields[name].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths |= _field_paths(annotation, f"{prefix}{name}.")
        else:
            paths.add(f"{prefix}{name}")
    return paths


def _yaml_paths(data: dict[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, value in data.items():
        if isinstance(value, dict):
            paths |= _yaml_paths(value, f"{prefix}{key}.")
        else:
            paths.add(f"{prefix}{key}")
    return paths


def test_example_config_documents_every_key() -> None:
    documented = _yaml_paths(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))
    assert documented == _field_paths(AppConfig)


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "# nothing\n"), env={}).limits == AppConfig().limits


def test_values_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "limits:\n  max_in_flight: 2\n  shutdown_grace_s: 3\nweb:\n  port: 9000\n"
        "discord:\n  guild_ids: [1, 2]\nsafety:\n  block_list: [durian]\n",
    )
    config = load_config(path, env={})
    assert config.limits.max_in_flight == 2 and config.limits.shutdown_grace_s == 3.0
    assert config.web.port == 9000 and config.discord.guild_ids == [1, 2]
    assert config.safety.block_list == ["durian"]
    assert config.source == path


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("limit:\n  max_in_flight: 2\n", ["unknown key 'limit'", "did you mean 'limits'"]),
        ("web:\n  prot: 8080\n", ["unknown key 'web.prot'", "'web.port'"]),
        ("telegram:\n  webhook:\n    ur1: x\n", ["telegram.webhook.ur1"]),
        ("web:\n  port: eighty\n", ["'web.port' must be a whole number", "'eighty'"]),
        ("web:\n  enabled: 'yes'\n", ["'web.enabled' must be true/false"]),
        ("limits:\n  max_in_flight: true\n", ["'limits.max_in_flight' must be a whole number"]),
        ("limits:\n  max_in_flight: 1.5\n", ["'limits.max_in_flight' must be a whole number"]),
        ("discord:\n  guild_ids: 12\n", ["'discord.guild_ids' must be a list"]),
        ("discord:\n  guild_ids: [1, x]\n", ["'discord.guild_ids[1]'"]),
        ("web: 8080\n", ["'web' must be a mapping"]),
        ("- web\n", ["top level must be a mapping"]),
        ("web:\n  port: [\n", ["YAML syntax error", "line"]),
        ("web:\n  port: 70000\n", ["'web.port'", "65535"]),
        ("limits:\n  max_in_flight: 0\n", ["'limits.max_in_flight' must be greater than zero"]),
        ("storage:\n  url: mysql://x/y\n", ["'storage.url'", "postgresql://"]),
        ("model:\n  device: gpu\n", ["'model.device'"]),
        ("logging:\n  level: LOUD\n", ["'logging.level'"]),
        ("safety:\n  block_list_file: /no/such/file.txt\n", ["'safety.block_list_file'"]),
        ("telegram:\n  enabled: true\n", ["STICKERBOT_TELEGRAM_TOKEN"]),
        ("discord:\n  enabled: true\n", ["STICKERBOT_DISCORD_TOKEN"]),
    ],
)
def test_bad_files_name_the_file_and_key(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message
    assert "Traceback" not in message


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml", env={})
    bad = tmp_path / "binary.yaml"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match=str(bad)):
        load_config(bad, env={})


def test_yaml_tags_are_not_executed(tmp_path: Path) -> None:
    path = write(tmp_path, "web: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="YAML"):
        load_config(path, env={})


def test_tokens_come_from_the_environment_and_never_show(tmp_path: Path) -> None:
    path = write(tmp_path, "telegram:\n  enabled: true\ndiscord:\n  enabled: true\n")
    env = {
        "STICKERBOT_TELEGRAM_TOKEN": "123456:telegram-secret",
        "STICKERBOT_DISCORD_TOKEN": "discord-secret-xyz",
    }
    config = load_config(path, env=env)
    assert config.telegram.token == "123456:telegram-secret"
    assert config.discord.token == "discord-secret-xyz"
    shown = repr(config)
    assert "telegram-secret" not in shown and "discord-secret-xyz" not in shown

    stream = io.StringIO()
    handler = configure_logging(
        config.logging, secrets=[config.telegram.token, config.discord.token], stream=stream
    )
    try:
        logging.getLogger("adapters.telegram").warning(
            "calling https://api.telegram.org/bot%s/getMe", config.telegram.token
        )
        try:
            raise RuntimeError(f"bad token {config.discord.token}")
        except RuntimeError:
            logging.getLogger("adapters.discord").exception("login failed")
    finally:
        logging.getLogger().removeHandler(handler)
    output = stream.getvalue()
    assert "telegram-secret" not in output and "discord-secret-xyz" not in output
    assert "bot***/getMe" in output and "bad token ***" in output


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "telegram:\n  token: from-the-file\n")
    assert load_config(path, env={}).telegram.token == "from-the-file"
    assert load_config(path, env={"STICKERBOT_TELEGRAM_TOKEN": "from-env"}).telegram.token == "from-env"
