"""Issue 13.7: oversized frames get the protocol's error frame; an over-long chat line gets the notice.

Before the fix a 1 MB or 10 MB frame ended in a bare close (1006 at the client, no error frame),
and a 2001-character chat line closed the connection with 4400 instead of the promised notice.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.reliability.web_server import running_room


@pytest.mark.parametrize("size", [1_000_000, 10_000_000])
async def test_an_oversized_frame_is_answered_with_an_error_frame(tmp_path: Path, size: int) -> None:
    async with running_room(tmp_path) as room:
        alice = await room.join("Alice")
        mallory = await room.join("Mallory")
        try:
            await mallory.send("chat", text="x" * size)
        except (ConnectionError, aiohttp.ClientError):
            pass  # the server may stop reading before the whole frame is written
        code, frames = await mallory.closed()
        assert frames and frames[-1]["type"] == "error" and frames[-1]["code"] == "too_big"
        assert "too big" in frames[-1]["text"]
        assert code == 1009
        await alice.send("chat", text="the room goes on")
        assert (await alice.message("chat"))["text"] == "the room goes on"


async def test_a_chat_line_over_the_limit_gets_the_notice_and_stays_connected(tmp_path: Path) -> None:
    async with running_room(tmp_path) as room:  # web.max_message_chars: 2000
        alice = await room.join("Alice")
        bob = await room.join("Bob")
        await alice.send("chat", text="y" * 2001)
        notice = await alice.expect("notice")
        assert notice["level"] == "error" and notice["text"] == "Messages can be up to 2000 characters."
        await alice.send("chat", text="y" * 2000)
        assert len((await bob.message("chat"))["text"]) == 2000
        assert not alice.ws.closed
