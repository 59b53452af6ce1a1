"""Issue 13.6: slowloris and idle sockets are bounded in time, and open sockets in number.

Before the fix 300 slowloris sockets and 500 idle sockets were all held for 60–70 s
(aiohttp's 75 s keep-alive), and nothing capped how many sockets one could open.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.config import WebConfig
from tests.reliability.web_server import LiveRoom, running_room

SOCKETS = 20


async def open_socket(room: LiveRoom) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", room.port)


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        await asyncio.wait_for(reader.read(), seconds)  # until EOF: the server hung up
        return True
    except TimeoutError:
        return False


async def test_slow_and_idle_sockets_are_closed_after_the_header_timeout(tmp_path: Path) -> None:
    async with running_room(tmp_path, web=WebConfig(port=0, header_timeout_s=1.0)) as room:
        idle = [await open_socket(room) for _ in range(SOCKETS)]
        slow = [await open_socket(room) for _ in range(SOCKETS)]
        for _reader, writer in slow:
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")

        async def trickle() -> None:  # a header line never finished: one byte every 0.2 s
            for _ in range(20):
                for _reader, writer in slow:
                    if not writer.is_closing():
                        writer.write(b"X")
                await asyncio.sleep(0.2)

        feeder = asyncio.create_task(trickle())
        results = await asyncio.gather(*(closed_within(r, 3.0) for r, _w in idle + slow))
        feeder.cancel()
        assert all(results), f"{results.count(False)} of {len(results)} sockets still open after 3 s"
        for _r, writer in idle + slow:
            writer.close()
        # The server still serves everyone else.
        async with room.http.get(room.url + "/") as resp:
            assert resp.status == 200


async def test_sockets_over_the_cap_get_a_503_at_once(tmp_path: Path) -> None:
    web = WebConfig(port=0, max_connections=8, header_timeout_s=1.0)
    async with running_room(tmp_path, web=web) as room:
        held = [await open_socket(room) for _ in range(8)]
        await asyncio.sleep(0.1)
        reader, writer = await open_socket(room)
        answer = await asyncio.wait_for(reader.read(), 1.0)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 503") and b"Too many connections" in answer
        for r, _w in held:  # the held ones time out (header_timeout_s), then there is room again
            assert await closed_within(r, 3.0)
        for _r, w in held:
            w.close()
        await asyncio.sleep(0.1)
        async with room.http.get(room.url + "/") as resp:
            assert resp.status == 200


async def test_a_websocket_without_hello_is_closed_after_the_hello_timeout(tmp_path: Path) -> None:
    async with running_room(tmp_path, web=WebConfig(port=0, hello_timeout_s=0.5)) as room:
        peers = [await room.connect() for _ in range(5)]
        for peer in peers:
            code, frames = await peer.closed(wait_s=3.0)
            assert code == 4400 and frames[-1]["code"] == "timeout"
