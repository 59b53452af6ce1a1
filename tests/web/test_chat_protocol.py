"""Joining, chatting, presence, names, history and reconnect catch-up over the real WebSocket."""

from __future__ import annotations

from bot.config import WebConfig
from bot.messages import BUTTON_MORE, BUTTON_REROLL, OPTION_EXAMPLES
from tests.web.conftest import Harness


async def test_join_welcome_describes_the_room(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice")
    w = alice.welcome
    assert w["you"]["name"] == "Alice"
    assert w["you"]["id"].startswith("w") and len(w["you"]["session"]) == 32
    assert w["you"]["admin"] is True  # no admin token configured: members may set the style
    assert w["room"]["name"] == "lobby"  # the configured default room
    assert {s["name"] for s in w["room"]["styles"]} == {"otter", "rabbit"}
    assert w["room"]["default_style"] in {"otter", "rabbit"}
    assert "😂" in w["room"]["emoji"] and len(w["room"]["emoji"]) <= 24
    assert w["history"] == [] and w["reset"] is True
    assert w["members"] == [{"id": w["you"]["id"], "name": "Alice"}]


async def test_chat_reaches_everyone_in_the_room_only(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice", "games")
    bob = await room.join("Bob", "games")
    carol = await room.join("Carol", "other")
    await alice.presence(["Alice", "Bob"])

    await alice.send("chat", text="hello  there\nsecond line")
    for peer in (alice, bob):
        msg = await peer.message("chat")
        assert msg["text"] == "hello  there\nsecond line"
        assert msg["author"]["name"] == "Alice"
        assert isinstance(msg["id"], int)
    assert all(f["type"] != "message" for f in await carol.quiet())


async def test_server_is_the_authority_for_names(chat: Harness) -> None:
    room = await chat()
    first = await room.join("  Sam\u200b\x07  ")
    assert first.welcome["you"]["name"] == "Sam"  # trimmed, control/format characters dropped
    second = await room.join("sam")
    assert second.welcome["you"]["name"] == "sam 2"  # another user already uses it here
    # The same session (another tab, or a reconnect) keeps its own name.
    again = await room.join("Sam", session=first.welcome["you"]["session"])
    assert again.welcome["you"]["name"] == "Sam"
    assert again.welcome["you"]["id"] == first.welcome["you"]["id"]
    # A made-up session string is not trusted: the server issues a fresh one.
    forged = await room.join("Eve", session="not-a-session")
    assert forged.welcome["you"]["session"] != "not-a-session"


async def test_unusable_name_or_room_is_refused(chat: Harness) -> None:
    room = await chat()
    peer = await room.connect()
    await peer.send("hello", name=" \u200b ", room="")
    code, frames = await peer.closed()
    assert code == 4422 and frames[-1]["code"] == "bad_name"

    peer = await room.connect()
    await peer.send("hello", name="Zed", room="../etc")
    code, frames = await peer.closed()
    assert code == 4422 and frames[-1]["code"] == "bad_room"


async def test_history_is_shown_to_late_joiners_and_after_restart(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice")
    for text in ("one", "two", "three"):
        await alice.send("chat", text=text)
        await alice.message("chat")
    later = await room.join("Bob")
    assert [m["text"] for m in later.welcome["history"]] == ["one", "two", "three"]

    # A new server process on the same database shows the same history.
    restarted = await chat()
    carol = await restarted.join("Carol")
    assert [m["text"] for m in carol.welcome["history"]] == ["one", "two", "three"]


async def test_history_is_per_room_and_bounded(chat: Harness) -> None:
    room = await chat(web=WebConfig(port=0, history_limit=3))
    alice = await room.join("Alice", "a")
    for i in range(5):
        await alice.send("chat", text=f"m{i}")
        await alice.message("chat")
    other = await room.join("Bob", "b")
    assert other.welcome["history"] == []
    same = await room.join("Bob", "a")
    assert [m["text"] for m in same.welcome["history"]] == ["m2", "m3", "m4"]
    # Older messages are not just hidden but deleted.
    rows = await room.service.database.fetchall("SELECT text FROM web_messages WHERE room = ?", ("a",))
    assert sorted(r[0] for r in rows) == ["m2", "m3", "m4"]


async def test_reconnect_catches_up_on_missed_messages(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice")
    bob = await room.join("Bob")
    await alice.send("chat", text="before")
    await alice.message("chat")
    seen = await bob.message("chat")
    session = bob.welcome["you"]["session"]
    await bob.close()  # Bob's connection drops…

    for text in ("missed 1", "missed 2"):
        await alice.send("chat", text=text)
        await alice.message("chat")

    bob = await room.join("Bob", session=session, last_id=seen["id"])  # …and comes back
    assert bob.welcome["reset"] is False
    assert [m["text"] for m in bob.welcome["history"]] == ["missed 1", "missed 2"]
    await alice.send("chat", text="live again")
    assert (await bob.message("chat"))["text"] == "live again"


async def test_reconnect_after_too_many_missed_starts_afresh(chat: Harness) -> None:
    room = await chat(web=WebConfig(port=0, history_limit=2))
    alice = await room.join("Alice")
    await alice.send("chat", text="first")
    first = await alice.message("chat")
    for i in range(4):
        await alice.send("chat", text=f"n{i}")
        await alice.message("chat")
    bob = await room.join("Bob", last_id=first["id"])
    assert bob.welcome["reset"] is True  # the page clears its list instead of showing a hole
    assert [m["text"] for m in bob.welcome["history"]] == ["n2", "n3"]


async def test_presence_follows_joins_and_leaves(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice")
    bob = await room.join("Bob")
    await alice.presence(["Alice", "Bob"])
    await bob.close()
    await alice.presence(["Alice"])


async def test_help_and_unknown_commands_answer_only_the_sender(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice")
    bob = await room.join("Bob")
    await alice.send("chat", text="/help")
    help_text = (await alice.expect("notice"))["text"]
    for fact in ("/sticker", "/style", *OPTION_EXAMPLES, BUTTON_REROLL, BUTTON_MORE):
        assert fact in help_text
    await alice.send("chat", text="/frobnicate now")
    notice = await alice.expect("notice")
    assert notice["level"] == "error" and "/frobnicate" in notice["text"]
    assert all(f["type"] not in ("notice", "message") for f in await bob.quiet())
