"""Issue 13.8 and 13.9: malformed HTTP doesn't flood the log; other Host names are refused (DNS rebinding).

Before the fix every over-long URL or header logged an ERROR with a full traceback (`LineTooLong`),
and `Host: evil.example` with `Origin: http://evil.example` passed the same-origin check.
"""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest

from bot.config import WebConfig
from tests.reliability.web_server import running_room

ATTEMPTS = 20


async def test_over_long_urls_and_headers_log_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    async with running_room(tmp_path) as room:
        answers = []
        for i in range(ATTEMPTS):
            if i % 2:
                request = b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            else:
                request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n"
            answers.append(await room.raw(request))
        assert all(a.split(b" ", 2)[1] == b"400" for a in answers)
        async with room.http.get(room.url + "/") as resp:
            assert resp.status == 200
    from_aiohttp = [r for r in caplog.records if r.name.startswith("aiohttp")]
    assert [r.levelno for r in from_aiohttp if r.levelno >= logging.WARNING] == [logging.WARNING]
    warning = next(r for r in from_aiohttp if r.levelno == logging.WARNING)
    assert warning.exc_info is None and "\n" not in warning.getMessage()
    assert "LineTooLong" in warning.getMessage() or "too long" in warning.getMessage().lower()


async def test_other_host_names_are_refused(tmp_path: Path) -> None:
    async with running_room(tmp_path) as room:  # default: the bind address, localhost, 127.0.0.1, ::1
        for host in (f"127.0.0.1:{room.port}", f"localhost:{room.port}", "localhost"):
            async with room.http.get(room.url + "/", headers={"Host": host}) as resp:
                assert resp.status == 200, host
        evil = {"Host": "evil.example", "Origin": "http://evil.example"}
        async with room.http.get(room.url + "/", headers={"Host": "evil.example"}) as resp:
            assert resp.status == 421
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await room.connect(**evil)  # a rebound page: its own name as Host and Origin
        assert exc.value.status == 421

    web = WebConfig(port=0, allowed_hosts=["chat.example.org"])
    async with running_room(tmp_path, web=web) as room:  # behind a proxy: the public name only
        ok = {"Host": "chat.example.org", "Origin": "https://chat.example.org"}
        peer = await room.connect(**ok)
        await peer.send("hello", name="Public", room="")
        assert (await peer.expect("welcome"))["you"]["name"] == "Public"
        async with room.http.get(room.url + "/", headers={"Host": "evil.example"}) as resp:
            assert resp.status == 421
