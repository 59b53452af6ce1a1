"""Hostile input: malformed and oversized frames, floods, injection, traversal, tokens, origins."""

from __future__ import annotations

import json

import aiohttp
import pytest

from bot.config import WebConfig
from tests.web.conftest import ChatHarness, Harness, Peer


async def assert_still_chatting(alice: Peer, bob: Peer) -> None:
    """The room goes on for everyone else."""
    await alice.send("chat", text="still here")
    assert (await bob.message("chat"))["text"] == "still here"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json at all", "not valid JSON"),
        ("[1, 2, 3]", "JSON object"),
        ('{"v": 2, "type": "chat", "text": "hi"}', "version"),
        ('{"v": true, "type": "chat", "text": "hi"}', "version"),
        ('{"v": 1, "type": "launch_missiles"}', "unknown frame type"),
        ('{"v": 1, "type": "chat"}', "required"),
        ('{"v": 1, "type": "chat", "text": 5}', "must be a str"),
        ('{"v": 1, "type": "chat", "text": "hi", "html": "<b>"}', "unexpected field"),
        ('{"v": 1, "type": "react", "message_id": true, "emoji": "😂"}', "must be a int"),
        ('{"v": 1, "type": "react", "message_id": -1, "emoji": "😂"}', "out of range"),
        ('{"v": 1, "type": "resend", "sha256": "../../etc/passwd"}', "SHA-256"),
        ('{"v": 1, "type": "reroll", "record_id": "x y"}', "record_id"),
        ('{"v": 1, "type": "hello", "name": "again", "room": ""}', "already joined"),
        ("[" * 5_000 + "]" * 5_000, "not valid JSON"),  # nesting bomb under the frame size limit
    ],
)
async def test_malformed_frame_closes_only_that_connection(chat: Harness, raw: str, reason: str) -> None:
    room = await chat()
    alice = await room.join("Alice")
    bob = await room.join("Bob")
    mallory = await room.join("Mallory")
    await mallory.ws.send_str(raw)
    code, frames = await mallory.closed()
    assert code == 4400
    error = frames[-1]
    assert error["type"] == "error" and error["code"] == "protocol_error"
    assert reason.lower() in error["text"].lower()
    await assert_still_chatting(alice, bob)


async def test_oversized_frame_closes_only_that_connection(chat: Harness) -> None:
    room = await chat(web=WebConfig(port=0, max_message_chars=100))
    alice = await room.join("Alice")
    bob = await room.join("Bob")
    mallory = await room.join("Mallory")
    await mallory.send("chat", text="x" * 50_000)
    code, frames = await mallory.closed()
    assert code == 1009  # message too big, said in the protocol's error frame first
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "too_big"
    await assert_still_chatting(alice, bob)


async def test_binary_frames_and_a_missing_hello_are_refused(chat: Harness) -> None:
    room = await chat()
    peer = await room.connect()
    await peer.ws.send_bytes(b"\x00\x01")
    code, _ = await peer.closed()
    assert code == 4400

    peer = await room.connect()
    await peer.send("chat", text="hi before hello")
    code, frames = await peer.closed()
    assert code == 4400 and "hello" in frames[-1]["text"]


async def test_message_limit_is_enforced(chat: Harness) -> None:
    room = await chat(web=WebConfig(port=0, max_message_chars=100))
    alice = await room.join("Alice")
    bob = await room.join("Bob")
    await alice.send("chat", text="z" * 100)
    assert len((await bob.message("chat"))["text"]) == 100
    mallory = await room.join("Mallory")
    await mallory.send("chat", text="z" * 101)
    notice = await mallory.expect("notice")  # a notice, not a disconnect: people typing stay
    assert notice["level"] == "error" and "up to 100 characters" in notice["text"]
    assert not [f for f in await bob.quiet() if f["type"] == "message"]
    await assert_still_chatting(mallory, bob)


async def test_flooding_is_rate_limited_then_disconnected(chat: Harness) -> None:
    room = await chat(web=WebConfig(port=0, messages_per_10s=5))
    alice = await room.join("Alice")
    bob = await room.join("Bob")
    for i in range(5):
        await bob.send("chat", text=f"ok {i}")
    await bob.send("chat", text="one too many")
    notice = await bob.expect("notice")
    assert "too fast" in notice["text"]
    texts = [(await alice.message("chat"))["text"] for _ in range(5)]
    assert texts == [f"ok {i}" for i in range(5)]

    for _ in range(10):  # keeps going after being told
        await bob.send("chat", text="spam")
    code, _ = await bob.closed()
    assert code == 4429
    assert not [
        f for f in await alice.quiet() if f.get("message", {}).get("text") in ("spam", "one too many")
    ]


async def test_injection_attempts_are_plain_text_everywhere(chat: Harness) -> None:
    room = await chat()
    evil_name = '<img src=x onerror="alert(1)">'
    evil_text = "</script><script>alert(document.cookie)</script>\"'&{{7*7}}"
    mallory = await room.join(evil_name)
    bob = await room.join("Bob")
    assert mallory.welcome["you"]["name"] == evil_name  # kept as text, never interpreted
    await mallory.send("chat", text=evil_text)
    msg = await bob.message("chat")
    assert msg["text"] == evil_text and msg["author"]["name"] == evil_name
    await mallory.send("sticker", prompt="<b onmouseover=alert(1)>otter</b>")
    pending = await bob.expect("pending")
    assert pending["pending"]["prompt"] == "<b onmouseover=alert(1)>otter</b>"

    # The page renders with textContent only and forbids inline script.
    app_js = await (await room.client.get("/static/app.js")).text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in app_js
    page = await room.client.get("/")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in await page.text()  # no inline script in the page itself
    assert page.headers["X-Content-Type-Options"] == "nosniff"


async def test_sticker_files_are_served_by_hash_only(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice")
    await alice.send("chat", text="/sticker eating otter")
    sha = (await alice.message("sticker"))["sticker"]["sha256"]
    assert (await room.client.get(f"/stickers/{sha}.webp")).status == 200
    attempts = [
        "/stickers/../__init__.py",
        "/stickers/..%2F..%2Fbot%2Fconfig.py",
        "/stickers/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/stickers/..%5c..%5cwindows%5cwin.ini",
        f"/stickers/{sha.upper()}.webp",
        f"/stickers/{sha[:-1]}.webp",
        f"/stickers/{sha}.png",
        f"/stickers/{sha}",
        f"/stickers/{sha}.webp%00.png",
        f"/stickers/{'0' * 64}.webp",  # well-formed but unknown
        "/stickers/",
    ]
    for path in attempts:
        resp = await room.client.get(path, allow_redirects=False)
        assert resp.status == 404, path
        assert resp.content_type != "image/webp", path


async def test_pages_and_static_files(chat: Harness) -> None:
    room = await chat()
    for path in ("/", "/r/games", "/r/my-room_2"):
        resp = await room.client.get(path)
        assert resp.status == 200 and "Stickerbot" in await resp.text()
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    for path in (
        "/r/Has Space",
        "/r/UPPER",
        "/r/a%2Fb",
        "/static/../__init__.py",
        "/static/chat.py",
        "/static/",
    ):
        assert (await room.client.get(path, allow_redirects=False)).status == 404, path
    css = await room.client.get("/static/style.css")
    assert css.status == 200 and css.content_type == "text/css"


async def test_access_token(chat: Harness) -> None:
    room = await chat(web=WebConfig(port=0, access_token="open-sesame", admin_token="boss"))
    for token in (None, "", "wrong", "open-sesame "):
        peer = await room.connect()
        hello = {"name": "Eve", "room": ""} | ({"token": token} if token is not None else {})
        await peer.send("hello", **hello)
        code, frames = await peer.closed()
        assert code == 4401 and frames[-1]["code"] == "unauthorized", token
    member = await room.join("Alice", token="open-sesame")
    assert member.welcome["you"]["admin"] is False
    admin = await room.join("Boss", token="boss")  # the admin token also opens the room
    assert admin.welcome["you"]["admin"] is True


async def test_cross_site_websocket_is_refused(chat: Harness) -> None:
    room = await chat()
    with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
        await room.connect(Origin="http://evil.example")
    assert exc.value.status == 403
    host = f"{room.client.host}:{room.client.port}"
    peer = await room.connect(Origin=f"http://{host}")
    await peer.send("hello", name="Same origin", room="")
    assert (await peer.expect("welcome"))["you"]["name"] == "Same origin"


async def test_a_slow_hello_times_out_quietly(chat: Harness) -> None:
    room: ChatHarness = await chat(web=WebConfig(port=0, hello_timeout_s=0.2))
    peer = await room.connect()
    code, frames = await peer.closed()
    assert code == 4400 and frames[-1]["code"] == "timeout"


async def test_odd_unicode_is_accepted(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Zoë 🦦 ليلى")
    bob = await room.join("Bob")
    text = "e\u0301 \U0001f9a6\u200d\U0001f525 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u202eevil"
    await alice.send("chat", text=text)
    msg = await bob.message("chat")
    assert msg["author"]["name"] == "Zoë 🦦 ليلى"
    assert "\u202e" not in msg["text"]  # bidi override dropped (format character)
    assert "\U0001f9a6\u200d\U0001f525" in msg["text"]  # emoji ZWJ sequence intact
    assert msg["text"].startswith("é")  # NFC
    assert json.dumps(msg)  # round-trips
