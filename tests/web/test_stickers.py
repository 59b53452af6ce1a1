"""Stickers in the room: /sticker, queue placeholders, reroll, 4 more, reactions, styles, re-sending."""

from __future__ import annotations

import asyncio
import hashlib
import io
from pathlib import Path

from PIL import Image

from bot import messages
from bot.config import WebConfig
from bot.types import RequestKind
from generator.api import ModelMissing
from tests.fakes.fake_engine import FakeEngine
from tests.web.conftest import ChatHarness, Harness, Peer


async def make_sticker(room: ChatHarness, peer: Peer, text: str = "/sticker eating otter") -> dict:
    await peer.send("chat", text=text)
    return await peer.message("sticker")


async def test_sticker_command_posts_a_transparent_webp_to_everyone(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice")
    bob = await room.join("Bob")
    await alice.send("chat", text="/sticker eating otter")

    pending = await bob.expect("pending")
    assert pending["pending"]["author"]["name"] == "Alice"
    assert pending["pending"]["prompt"] == "eating otter"
    msgs = [await p.message("sticker") for p in (alice, bob)]
    assert msgs[0] == msgs[1]
    sticker = msgs[0]["sticker"]
    assert msgs[0]["text"] == "eating otter"
    assert sticker["url"] == f"/stickers/{sticker['sha256']}.webp"
    assert sticker["record_id"] and sticker["style"] in {"otter", "rabbit"}

    request = room.engine.ran[-1]
    assert "otter" in request.prompt

    resp = await room.client.get(sticker["url"])
    assert resp.status == 200 and resp.content_type == "image/webp"
    data = await resp.read()
    assert hashlib.sha256(data).hexdigest() == sticker["sha256"]
    img = Image.open(io.BytesIO(data))
    assert img.format == "WEBP" and img.mode == "RGBA"
    assert img.getextrema()[3][0] == 0  # some pixels are fully transparent


async def test_sticker_button_frame_and_style_option(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice")
    await alice.send("sticker", prompt="waving hello", style="rabbit")
    msg = await alice.message("sticker")
    assert msg["sticker"]["style"] == "rabbit"
    assert room.engine.ran[-1].style == "rabbit"


async def test_placeholder_shows_the_place_in_line(chat: Harness) -> None:
    room = await chat(engine=FakeEngine(delay_s=0.3, max_batch=1))
    alice = await room.join("Alice")
    bob = await room.join("Bob")
    await alice.send("chat", text="/sticker eating otter")
    await bob.send("chat", text="/sticker sleeping otter")

    positions: dict[str, set] = {}
    done = 0
    while done < 2:
        frame = await alice.recv()
        if frame["type"] == "pending":
            p = frame["pending"]
            positions.setdefault(p["prompt"], set()).add(p["position"])
        elif frame["type"] == "message" and frame["message"]["kind"] == "sticker":
            done += 1
    # The second request waited behind the first ("⏳ #1 in line"), then was drawn (0).
    assert any(pos is not None and pos >= 1 for pos in positions["sleeping otter"])
    assert 0 in positions["sleeping otter"] and 0 in positions["eating otter"]


async def test_service_errors_go_to_the_requester_only(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice")
    bob = await room.join("Bob")
    await alice.send("chat", text="/sticker    ")
    notice = await alice.expect("notice")
    assert notice["level"] == "error" and "Traceback" not in notice["text"]

    await alice.send("sticker", prompt="otter", style="no-such-style")
    notice = await alice.expect("notice")
    assert "no-such-style" in notice["text"]

    room.engine.fail_next = 1
    await alice.send("chat", text="/sticker eating otter")
    notice = await alice.expect("notice")
    assert notice["level"] == "error"

    # Bob saw the placeholders come and go, but none of Alice's error notices.
    frames = await bob.quiet()
    assert not [f for f in frames if f["type"] == "notice"]
    ends = [f for f in frames if f["type"] == "pending_end"]
    starts = {f["pending"]["id"] for f in frames if f["type"] == "pending"}
    assert {f["id"] for f in ends} == starts


class NoModelEngine(FakeEngine):
    """Stands for an engine whose model is not installed (see `generator.engine.Engine.health`)."""

    def __init__(self) -> None:
        super().__init__()
        self.load_error = ModelMissing("Model stabilityai/sdxl-turbo is not in the Hugging Face cache.")

    async def generate(self, request, on_position=None):  # type: ignore[no-untyped-def]
        raise self.load_error


async def test_without_a_model_joining_says_so_once_and_stickers_get_the_same_answer(chat: Harness) -> None:
    room = await chat(engine=NoModelEngine())
    alice = await room.join("Alice")
    expected = messages.model_missing("stabilityai/sdxl-turbo")
    up_front = await alice.expect("notice")
    assert up_front == {"v": 1, "type": "notice", "level": "info", "text": expected}

    await alice.send("chat", text="/sticker eating otter")
    answer = await alice.expect("notice")
    assert answer["level"] == "error" and answer["text"] == expected
    assert not [f for f in await alice.quiet() if f["type"] == "notice"]  # said once per event, no more


async def test_no_notice_on_joining_when_stickers_work(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice")
    assert not [f for f in await alice.quiet() if f["type"] == "notice"]


async def test_reroll_posts_a_new_sticker_from_the_same_record(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice")
    bob = await room.join("Bob")
    first = await make_sticker(room, alice)
    await bob.message("sticker")
    await bob.send("reroll", record_id=first["sticker"]["record_id"])  # anyone in the room may
    again = await alice.message("sticker")
    assert again["author"]["name"] == "Bob"
    assert again["text"] == "eating otter"
    assert again["sticker"]["sha256"] != first["sticker"]["sha256"]
    assert room.engine.ran[-1].prompt == room.engine.ran[-2].prompt


async def test_four_more_offers_candidates_to_the_requester_then_posts_the_pick(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice")
    bob = await room.join("Bob")
    first = await make_sticker(room, alice)
    await bob.message("sticker")

    await alice.send("more", record_id=first["sticker"]["record_id"])
    offer = await alice.expect("candidates")
    assert len(offer["stickers"]) == 4
    assert len({s["sha256"] for s in offer["stickers"]}) == 4
    assert room.engine.ran[-1].count == 4
    # Candidates are private: Bob sees neither the offer nor its placeholder.
    assert not [f for f in await bob.quiet() if f["type"] in ("candidates", "pending", "message")]
    for s in offer["stickers"]:
        assert (await room.client.get(s["url"])).status == 200

    chosen = offer["stickers"][2]
    await alice.send("pick", record_id=offer["record_id"], sha256=chosen["sha256"])
    posted = await bob.message("sticker")
    assert posted["sticker"]["sha256"] == chosen["sha256"]
    assert posted["text"] == "eating otter"

    # Picking something that was never offered is refused politely.
    await alice.send("pick", record_id=offer["record_id"], sha256="0" * 64)
    assert (await alice.expect("notice"))["level"] == "error"


async def test_a_command_asking_for_several_offers_candidates(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice")
    await alice.send("chat", text="/sticker eating otter n:3")
    offer = await alice.expect("candidates")
    assert len(offer["stickers"]) == 3


async def test_reroll_of_a_record_not_posted_in_this_room_is_refused(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice", "one")
    first = await make_sticker(room, alice)
    eve = await room.join("Eve", "two")
    await eve.send("reroll", record_id=first["sticker"]["record_id"])
    assert "isn't in this room" in (await eve.expect("notice"))["text"]


async def test_reaction_posts_the_room_character_with_that_expression(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice")
    bob = await room.join("Bob")
    await alice.send("chat", text="I won the lottery")
    target = await alice.message("chat")
    await bob.message("chat")

    await bob.send("react", message_id=target["id"], emoji="😂")
    pending = await alice.expect("pending")
    assert pending["pending"]["reply_to"] == {"id": target["id"], "emoji": "😂", "name": "Alice"}
    msg = await alice.message("sticker")
    assert msg["author"]["name"] == "Bob"
    assert msg["reply_to"] == {"id": target["id"], "emoji": "😂", "name": "Alice"}
    assert "laughing" in room.engine.ran[-1].prompt
    assert room.engine.ran[-1].style == alice.welcome["room"]["default_style"]


async def test_reaction_with_unknown_emoji_or_message(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice")
    await alice.send("chat", text="hi")
    target = await alice.message("chat")
    await alice.send("react", message_id=target["id"], emoji="🦑")  # not in the table: ignored
    assert not [f for f in await alice.quiet() if f["type"] in ("pending", "message", "notice")]
    await alice.send("react", message_id=target["id"] + 999, emoji="😂")
    assert (await alice.expect("notice"))["level"] == "error"


async def test_style_menu_sets_the_room_default(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice", "den")
    bob = await room.join("Bob", "den")
    await alice.send("set_style", style="rabbit")
    assert (await bob.expect("style"))["style"] == "rabbit"
    note = await bob.message("system")
    assert "rabbit" in note["text"] and note["author"]["name"] == "Alice"

    await bob.send("chat", text="/sticker eating")
    assert (await bob.message("sticker"))["sticker"]["style"] == "rabbit"
    # Other rooms keep their own default; newcomers see the room's.
    other = await room.join("Carol", "elsewhere")
    assert other.welcome["room"]["default_style"] != "rabbit"
    newcomer = await room.join("Dan", "den")
    assert newcomer.welcome["room"]["default_style"] == "rabbit"

    await alice.send("chat", text="/style nonsense")
    assert "nonsense" in (await alice.expect("notice"))["text"]


async def test_admin_token_restricts_style_changes(chat: Harness) -> None:
    room = await chat(web=WebConfig(port=0, admin_token="boss-secret"))
    member = await room.join("Member")
    assert member.welcome["you"]["admin"] is False
    await member.send("set_style", style="rabbit")
    assert (await member.expect("notice"))["level"] == "error"

    admin = await room.join("Admin", token="boss-secret")
    assert admin.welcome["you"]["admin"] is True
    await admin.send("set_style", style="rabbit")
    assert (await member.expect("style"))["style"] == "rabbit"


async def test_recent_tray_resends_without_generating(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice")
    first = await make_sticker(room, alice)
    runs = len(room.engine.ran)

    bob = await room.join("Bob")
    assert bob.welcome["recent"] == [first["sticker"]["sha256"]]
    await bob.send("resend", sha256=first["sticker"]["sha256"])
    again = await alice.message("sticker")
    assert again["author"]["name"] == "Bob"
    assert again["sticker"]["sha256"] == first["sticker"]["sha256"]
    assert again["sticker"]["record_id"] == first["sticker"]["record_id"]
    assert len(room.engine.ran) == runs

    # Only stickers seen in this room can be re-sent.
    stranger = await room.join("Eve", "elsewhere")
    await stranger.send("resend", sha256=first["sticker"]["sha256"])
    assert (await stranger.expect("notice"))["level"] == "error"


async def test_history_keeps_stickers_after_the_cache_forgets_them(chat: Harness) -> None:
    room = await chat()
    alice = await room.join("Alice")
    posted = await make_sticker(room, alice)
    sha = posted["sticker"]["sha256"]
    cache_dir = room.service.config.storage.cache_dir
    # The service's LRU file cache evicts the file (here: it disappears from disk).
    evicted = [p.unlink() for p in await asyncio.to_thread(lambda: list(Path(cache_dir).rglob(sha)))]
    assert evicted
    assert await room.service.sticker_file(sha) is None

    resp = await room.client.get(posted["sticker"]["url"])
    assert resp.status == 200
    assert hashlib.sha256(await resp.read()).hexdigest() == sha
    late = await room.join("Bob")
    assert late.welcome["history"][-1]["sticker"]["sha256"] == sha


async def test_requests_are_neutral_web_requests(chat: Harness) -> None:
    """The adapter speaks the service's neutral language: platform web, the room as scope."""
    seen = []
    room = await chat()
    original = room.service.handle

    async def spy(request, on_position=None):
        seen.append(request)
        return await original(request, on_position)

    room.service.handle = spy
    alice = await room.join("Alice", "den")
    await make_sticker(room, alice)
    request = seen[-1]
    assert request.platform == "web"
    assert request.server_id == "den" and request.conversation_id == "den"
    assert request.user_id == alice.welcome["you"]["id"]
    assert request.kind == RequestKind.COMMAND and request.text == "eating otter"


async def test_pruned_history_releases_its_sticker_copies(chat: Harness) -> None:
    room = await chat(web=WebConfig(port=0, history_limit=1))
    alice = await room.join("Alice")
    await make_sticker(room, alice)
    history = room.adapter.chat.history
    assert await history.sweep_stickers() == 0  # still shown
    await alice.send("chat", text="pushes the sticker out of the history")
    await alice.message("chat")
    assert await history.sweep_stickers() == 1


async def test_a_burst_of_requests_is_capped_per_person(chat: Harness) -> None:
    room = await chat(engine=FakeEngine(delay_s=0.3))
    alice = await room.join("Alice")
    for i in range(5):
        await alice.send("sticker", prompt=f"otter {i}")
    refusals = [await alice.expect("notice") for _ in range(2)]
    assert all("on the way" in n["text"] for n in refusals)
    stickers = [await alice.message("sticker") for _ in range(3)]
    assert sorted(m["text"] for m in stickers) == ["otter 0", "otter 1", "otter 2"]


async def test_late_joiners_see_public_placeholders_only(chat: Harness) -> None:
    room = await chat(engine=FakeEngine(delay_s=0.5))
    alice = await room.join("Alice")
    first = await make_sticker(room, alice)
    await alice.send("more", record_id=first["sticker"]["record_id"])  # private placeholder
    await alice.send("chat", text="/sticker waving otter")  # public placeholder
    while (await alice.expect("pending"))["pending"]["prompt"] != "waving otter":
        pass
    bob = await room.join("Bob")
    assert [p["prompt"] for p in bob.welcome["pending"]] == ["waving otter"]
