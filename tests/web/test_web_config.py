"""The web room's hardening keys: defaults, and one clear line for a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path, env={})


def test_defaults_keep_the_room_local_and_bounded(tmp_path: Path) -> None:
    web = load(tmp_path, "web: {}\n").web
    assert web.allowed_hosts == [] and web.trusted_proxy_header is None and web.trusted_proxies == []
    assert (web.max_connections, web.max_connections_per_address, web.max_connections_per_room) == (
        1000,
        20,
        300,
    )
    assert (web.max_sessions_per_address, web.max_rooms_per_address, web.max_pending_per_address) == (8, 8, 6)
    assert web.header_timeout_s == 10.0 and web.hello_timeout_s == 10.0


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            "web:\n  trusted_proxy_header: X-Forwarded-For\n  trusted_proxies: [nginx]\n",
            "web.trusted_proxies",
        ),
        ("web:\n  trusted_proxies: [127.0.0.1]\n", "trusted_proxy_header is not"),
        ("web:\n  max_connections_per_room: 0\n", "web.max_connections_per_room"),
        ("web:\n  header_timeout_s: -1\n", "web.header_timeout_s"),
    ],
)
def test_bad_values_are_one_line(tmp_path: Path, yaml_text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, yaml_text)
    assert expected in str(exc.value) and "\n" not in str(exc.value)


def test_behind_a_proxy(tmp_path: Path) -> None:
    text = (
        "web:\n  allowed_hosts: [stickers.example.org]\n  trusted_proxy_header: X-Forwarded-For\n"
        "  trusted_proxies: [127.0.0.1, 10.0.0.0/8]\n"
    )
    web = load(tmp_path, text).web
    assert web.trusted_proxies == ["127.0.0.1", "10.0.0.0/8"] and web.allowed_hosts == [
        "stickers.example.org"
    ]
