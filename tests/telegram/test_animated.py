"""Animated stickers on Telegram: a video sticker reply the fake Bot API accepts, and the fake's
video-sticker rules (format, size, duration, fps, no audio) rejecting what Telegram would reject."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from tests.fakes.telegram_api import ApiError, FakeBotAPI
from tests.telegram.conftest import Harness

USER = 4242


async def test_animated_request_gets_a_video_sticker(bot: Harness) -> None:
    api = bot.api
    api.message_update(USER, USER, "/sticker animated waving otter")
    [call] = await api.wait_calls("sendSticker")
    assert call.error is None
    (data,) = call.files.values()
    assert data[:4] == b"\x1a\x45\xdf\xa3"  # WEBM
    assert api.violations == []
    assert "waving" in bot.engine.ran[0].prompt and "animated" not in bot.engine.ran[0].prompt


def _webm(seconds: float, fps: int, side: int = 512, audio: bool = False, codec: str = "libvpx-vp9") -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="webm") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        stream.options = {"deadline": "realtime", "cpu-used": "8", "crf": "63", "b": "0"}
        sound = out.add_stream("libopus", rate=48000) if audio else None
        for i in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.full((side, side, 3), i % 255, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
        if sound is not None:
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 960), np.float32), format="flt", layout="mono")
            samples.sample_rate, samples.pts = 48000, 0
            out.mux(sound.encode(samples))
            out.mux(sound.encode())
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"seconds": 4.0, "fps": 10}, "over 3 s"),
        ({"seconds": 1.0, "fps": 60}, "over 30"),
        ({"seconds": 1.0, "fps": 10, "side": 256}, "one side 512"),
        ({"seconds": 1.0, "fps": 10, "audio": True}, "no audio"),
        ({"seconds": 1.0, "fps": 10, "codec": "libvpx"}, "must be VP9"),
    ],
)
async def test_fake_bot_api_rejects_what_telegram_rejects(
    api: FakeBotAPI, kwargs: dict, problem: str
) -> None:
    data = _webm(**kwargs)
    with pytest.raises(ApiError, match=problem):
        api._validate_video_sticker("sendSticker", data)


async def test_fake_bot_api_accepts_a_valid_video_sticker(api: FakeBotAPI) -> None:
    api._validate_video_sticker("sendSticker", _webm(seconds=1.0, fps=24))
    with pytest.raises(ApiError, match="over 256000"):
        api._validate_video_sticker("sendSticker", b"\x1a\x45\xdf\xa3" + b"\0" * 256_001)


def _buttons(call) -> dict[str, str]:
    return {
        b["text"]: b["callback_data"] for row in call.params["reply_markup"]["inline_keyboard"] for b in row
    }


async def test_animate_button_then_add_the_video_to_my_pack(bot: Harness) -> None:
    api = bot.api
    api.started_users.add(USER)
    api.message_update(USER, USER, "/sticker eating otter")
    [first] = await api.wait_calls("sendSticker")
    buttons = _buttons(first)
    assert buttons["🎬 Animate"].startswith("a:") and buttons["🎬 Animate"].endswith(":0")
    static_message = [m for (c, _), m in api.messages.items() if c == USER and "sticker" in m][-1]
    assert static_message["sticker"]["is_video"] is False

    api.callback_update(USER, USER, static_message["message_id"], buttons["🎬 Animate"])
    calls = await api.wait_calls("sendSticker", 2)
    animated = calls[1]
    assert len(bot.engine.ran) == 1  # that exact sticker, not a new drawing
    (data,) = animated.files.values()
    assert data[:4] == b"\x1a\x45\xdf\xa3"
    video_message = [m for (c, _), m in api.messages.items() if c == USER and "sticker" in m][-1]
    assert video_message["sticker"]["is_video"] is True
    animated_buttons = _buttons(animated)
    assert "🎬 Animate" not in animated_buttons  # already moving

    api.callback_update(USER, USER, video_message["message_id"], animated_buttons["➕ Add to my pack"])
    [create] = await api.wait_calls("createNewStickerSet")
    (item,) = create.params["stickers"]
    assert item["format"] == "video"
    name = create.params["name"].lower()
    assert api.sticker_sets[name].stickers[0]["is_video"] is True
    assert api.violations == []
