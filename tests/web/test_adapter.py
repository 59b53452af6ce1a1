"""The adapter as the composition root runs it: a real TCP listener on 127.0.0.1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from adapters.web import create_adapter
from bot.config import AppConfig, WebConfig
from tests.fakes.service_factory import GENEROUS_LIMITS, make_service


async def test_start_prints_the_url_serves_and_stops(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    web = WebConfig(port=0)
    service = await make_service(tmp_path, config=AppConfig(limits=GENEROUS_LIMITS, web=web))
    adapter = create_adapter(web, service, service.config)
    assert adapter.name == "web"
    await adapter.start()
    try:
        assert adapter.port and adapter.port != 0
        assert capsys.readouterr().out.strip() == f"Chat room: http://127.0.0.1:{adapter.port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{adapter.url}/") as resp:
                assert resp.status == 200
            ws = await http.ws_connect(f"{adapter.url}/ws")
            await ws.send_json({"v": 1, "type": "hello", "name": "Alice", "room": ""})
            welcome = await ws.receive_json(timeout=5)
            assert welcome["type"] == "welcome"
            stopping = asyncio.create_task(adapter.stop())  # says goodbye to connected clients
            msg = await ws.receive(timeout=5)
            while msg.type == aiohttp.WSMsgType.TEXT:  # presence etc. queued before the goodbye
                msg = await ws.receive(timeout=5)
            await stopping
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert ws.close_code == 1001
    finally:
        await adapter.stop()
        await service.close()


async def test_default_bind_is_loopback() -> None:
    assert WebConfig().host == "127.0.0.1"
